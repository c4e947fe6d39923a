"""Fold a BatchNorm into the conv/linear layer before it (eval-mode statistics).

After the float warm-up the search runs on folded layers, as the reference does: with a
BatchNorm left downstream of a gate, shrinking the keep probability of every channel of a
layer at once would be normalised away by the next BatchNorm, so the cost could fall at no
price in task loss and whole layers would collapse to 0 bits. Folding also makes the
quantized weights the ones the integer kernels use.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


@torch.no_grad()
def fold_batchnorm(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A copy of `layer` computing bn(layer(x)) with running statistics; it always has a bias."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"cannot fold {type(bn).__name__} without running statistics (track_running_stats=False)")
    folded = copy.deepcopy(layer)
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale + (bn.bias if bn.bias is not None else 0.0)
    folded.weight.copy_(layer.weight * scale.reshape((-1,) + (1,) * (layer.weight.dim() - 1)))
    bias = layer.bias if layer.bias is not None else torch.zeros_like(scale)
    folded.bias = nn.Parameter(bias * scale + shift)
    return folded
