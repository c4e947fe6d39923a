"""bitgate: hardware-aware joint pruning and per-channel mixed-precision search for microcontrollers.

The public API in one import (names load on first use, so `bitgate --version` stays instant):

    import bitgate
    cfg = bitgate.load_config("configs/digits_stm32h7.toml", ["strength=0.3"])
    metrics = bitgate.run(cfg)                    # one run folder
    net = bitgate.to_supernet(model, example_input, bits=(0, 2, 4, 8))
    arch = bitgate.discretize(net); small = bitgate.materialize(net, arch)
    bitgate.get_target("stm32h7"); bitgate.evaluate(small, dataset)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_API = {
    "to_supernet": ("supernet", "to_supernet"),
    "discretize": ("supernet", "discretize"),
    "materialize": ("supernet", "materialize"),
    "Architecture": ("supernet", "Architecture"),
    "Supernet": ("supernet", "Supernet"),
    "export": ("deploy.api", "export"),
    "evaluate": ("search.train", "evaluate"),
    "evaluate_cost": ("cost_models", "evaluate"),
    "get_target": ("targets", "get_target"),
    "target_names": ("targets", "target_names"),
    "run": ("search.run", "run"),
    "sweep": ("search.sweep", "sweep"),
    "SearchConfig": ("search.config", "SearchConfig"),
    "SweepConfig": ("search.sweep", "SweepConfig"),
    "ConfigError": ("search.config", "ConfigError"),
    "load_config": ("search.config", "load_config"),
    "load_model": ("search.model_file", "load_model"),
    "smallest_viable_cost": ("search.constraints.viability", "smallest_viable_cost"),
    "create_model": ("zoo.models", "create_model"),
    "main": ("bitgate.cli", "main"),
}

__all__ = sorted([*_API, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attr = _API[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'bitgate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
