"""Gated layers, quantizers, model conversion, discretization and materialization.

net = to_supernet(model, example_input, bits=(0, 2, 4, 8))
... search ...
arch = discretize(net)
small = materialize(net, arch)
"""

from supernet.arch import Architecture
from supernet.convert import calibrate, to_supernet, trace
from supernet.discretize import discretize
from supernet.gates import ChannelGates, TemperatureSchedule
from supernet.graph import UnsupportedModelError
from supernet.materialize import arch_param_count, materialize
from supernet.network import Supernet
from supernet.spec import LayerChoice, LayerSpec

__all__ = [
    "Architecture",
    "ChannelGates",
    "LayerChoice",
    "LayerSpec",
    "Supernet",
    "TemperatureSchedule",
    "UnsupportedModelError",
    "arch_param_count",
    "calibrate",
    "discretize",
    "materialize",
    "to_supernet",
    "trace",
]
