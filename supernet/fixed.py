"""A fixed-precision layer: each output channel fake-quantized at its own bit-width.

This is what `materialize` builds from a gated layer: physically smaller (pruned
channels removed), trainable (straight-through), and the exporter's starting point.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from supernet.derived import derived
from supernet.layers import ActQuant, LayerOp
from supernet.quant import precision_groups, quantize_weight_per_channel


class FixedLayer(nn.Module):
    def __init__(
        self, op: LayerOp, weight: Tensor, bias: Tensor | None, bits: list[int], act: ActQuant, bn: nn.Module | None
    ) -> None:
        super().__init__()
        if len(bits) != weight.shape[0] or not all(b > 0 for b in bits):
            raise ValueError(f"need one non-zero bit-width per output channel, got {bits}")
        self.op = op
        self.weight = nn.Parameter(weight.detach().clone())
        self.bias = nn.Parameter(bias.detach().clone()) if bias is not None else None
        self.register_buffer("bits", torch.tensor(bits, dtype=torch.long))
        self.act = act
        self.bn = bn

    def quantized_weight(self) -> Tensor:
        # the bits are fixed: their precision groups are read once (again only if the buffer changes)
        groups = derived(self, "_groups", (self.bits,), lambda: precision_groups(self.bits))
        return quantize_weight_per_channel(self.weight, self.bits, groups)

    def forward(self, x: Tensor) -> Tensor:
        y = self.op(self.act(x), self.quantized_weight(), self.bias)
        return self.bn(y) if self.bn is not None else y

    def extra_repr(self) -> str:
        counts = {int(b): int((self.bits == b).sum()) for b in torch.unique(self.bits)}
        return f"{self.op.kind}, weight={tuple(self.weight.shape)}, channels_per_bits={counts}"
