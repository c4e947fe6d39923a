"""Float value range of every fx node on the calibration batch.

The cmsis-nn flavour keeps every tensor in int8, so a tensor that no layer's activation grid
describes (a residual branch before its add, a tensor needed on two grids) gets its own grid
from the range seen here, as TFLite's post-training calibration does.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, fx, nn

from deploy.graph import _to_graph_module


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.ranges: dict[str, tuple[float, float]] = {}

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if isinstance(out, Tensor) and out.is_floating_point() and out.numel():
            self.ranges[n.name] = (float(out.min()), float(out.max()))
        return out


@torch.no_grad()
def node_ranges(model: nn.Module, example_input: Tensor) -> dict[str, tuple[float, float]]:
    """{fx node name: (min, max)} over `example_input`, node names as deploy.graph.read_graph sees them."""
    gm = copy.deepcopy(_to_graph_module(model)).eval()
    rec = _Recorder(gm)
    rec.run(example_input)
    return rec.ranges
