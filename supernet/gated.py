"""The searchable layer: a conv/linear whose output channels mix quantized copies of the weights.

W_eff[c] = sum_b theta[b, c] * Q_b(W)[c]  with Q_0 = 0   (seed 001, "method").

A following BatchNorm is absorbed into the layer and the channel's keep probability
(1 - theta[0, c]) is applied *after* it: batch statistics would otherwise normalise the
keep mass away. So a channel whose gate sits on 0 bits outputs exactly 0, and removing it
changes nothing downstream.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from supernet.gates import ChannelGates
from supernet.layers import ActQuant, LayerOp
from supernet.quant import constant, quantize_weight_stack

# Runs of input channels: (producer's gates or None if unsearched, first channel of those gates, length).
InputGates = tuple[tuple[ChannelGates | None, int, int], ...]


def input_keep(in_gates: InputGates, like: Tensor) -> Tensor:
    """Keep probability of every input channel: producers' gates, or 1 for unsearchable producers."""
    keeps: dict[int, Tensor] = {}  # after a channel shuffle one producer feeds many runs: compute it once
    parts = []
    for g, start, n in in_gates:
        if g is None:
            parts.append(constant((1.0,) * n, like))  # unsearched producer: made once, not per call
            continue
        if id(g) not in keeps:
            keeps[id(g)] = g.keep()
        keep = keeps[id(g)]
        parts.append(keep if start == 0 and n == keep.shape[0] else keep[start : start + n])
    return (torch.cat(parts) if len(parts) > 1 else parts[0]) if parts else like.new_ones(0)


class GatedLayer(nn.Module):
    def __init__(
        self,
        source: nn.Module,
        gates: ChannelGates,
        act: ActQuant,
        bn: nn.Module | None = None,
        in_gates: InputGates = (),
        in_unit: int = 1,
    ) -> None:
        super().__init__()
        self.op = LayerOp.of(source)
        self.weight = nn.Parameter(source.weight.detach().clone())
        self.bias = nn.Parameter(source.bias.detach().clone()) if source.bias is not None else None
        self.bn = bn
        self.gates = gates
        self.act = act
        self.in_unit = in_unit
        # Plain tuple, not registered: these gates belong to the producing layers.
        self._in_gates = in_gates

    def _input_weight(self) -> Tensor | None:
        """How much each input channel's weights count when setting the quantization grid."""
        if self.op.groups > 1 or not any(g is not None for g, *_ in self._in_gates):
            return None
        keep = input_keep(self._in_gates, self.weight).detach()
        if self.in_unit > 1:
            keep = keep.repeat_interleave(self.in_unit)
        return keep.reshape((1, -1) + (1,) * (self.weight.dim() - 2))

    def effective_weight(self) -> tuple[Tensor, Tensor]:
        """(sum over non-zero options of theta * Q_b(W), keep probability per channel)."""
        theta = self.gates.probs()
        options = self.gates.options
        nonzero = options[1:] if self.gates.prunable else options
        q = quantize_weight_stack(self.weight, nonzero, self._input_weight())  # (|nonzero|, *weight.shape)
        theta_nz = theta[1:] if self.gates.prunable else theta
        w_eff = (theta_nz.reshape(theta_nz.shape + (1,) * (self.weight.dim() - 1)) * q).sum(0)
        keep = 1.0 - theta[0] if self.gates.prunable else theta.sum(0)
        return w_eff, keep.expand(self.weight.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(x)
        w_eff, keep = self.effective_weight()
        if self.bn is None:
            bias = self.bias * keep if self.bias is not None else None
            return self.op(x, w_eff, bias)
        # BN would normalise any per-channel scale away: mix at unit mass, gate after BN.
        w_unit = w_eff / keep.clamp_min(1e-12).reshape((-1,) + (1,) * (self.weight.dim() - 1))
        return batch_norm_scaled(self.bn, self.op(x, w_unit, self.bias), keep)


def batch_norm_scaled(bn: nn.Module, x: Tensor, scale: Tensor) -> Tensor:
    """bn(x) * scale[c], with the scale folded into BN's affine parameters (no extra pass over x).

    Mirrors torch.nn.modules.batchnorm._BatchNorm.forward (running statistics, momentum=None,
    track_running_stats); a channel with scale 0 outputs exactly 0.
    """
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    batch_stats = bn.training or (bn.running_mean is None and bn.running_var is None)
    track = not bn.training or bn.track_running_stats
    weight = scale if bn.weight is None else bn.weight * scale
    bias = None if bn.bias is None else bn.bias * scale
    mean, var = (bn.running_mean, bn.running_var) if track else (None, None)
    return F.batch_norm(x, mean, var, weight, bias, batch_stats, factor, bn.eps)
