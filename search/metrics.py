"""Numbers every run reports besides accuracy and costs, defined once here.

average bit-width (seed 000, "Evaluation metrics"):  b = sum_l b(l) * S(l) * N_p(l)

  N_p(l)  layer l's share of the weights: W_l / sum_k W_k over the searchable Conv/Linear layers
          of the original network (weights only: biases and BatchNorm are kept in full precision)
  S(l)    the share of layer l's weights still present after pruning (1 without pruning; removed
          channels, removed input channels and masked single weights all count as pruned). The
          poster uses S(l) for activation sparsity in the importance score too; in the average
          bit-width it can only mean what survives pruning, since its combined variant reports a
          lower average than its quantization-only one (VGG-19: 1.08 vs 2.24 bits).
  b(l)    the layer's weight bit-width (per-channel widths are averaged over the present weights)

  so b = (weight bits stored, one b per present weight) / (weights of the original network).

nonzero weight bits (seed 003's model size):  sum_i b(W_i) * ||W_i||_0, over the non-zero integer
weights after quantization (LayerChoice.nonzeros; every present weight when there are none). Real
bytes, index included, are the `size_sparse` cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from cost_models.common import F64, theta, weights_per_channel
from supernet.spec import LayerChoice


def _channel_bits(choice: LayerChoice) -> torch.Tensor:
    return (torch.tensor(choice.weight_bits, dtype=F64).unsqueeze(1) * theta(choice)).sum(0)


def average_bit_width(choices: Sequence[LayerChoice], present: dict[str, torch.Tensor] | None = None) -> float:
    """Seed 000's b (module docstring); `present`: weights present per output channel (default: all
    weights of every kept channel over its kept inputs)."""
    total = sum(c.spec.weights_per_channel * c.spec.out_channels for c in choices)
    stored = 0.0
    for c in choices:
        count = present[c.spec.name] if present is not None else weights_per_channel(c) * c.keep.to(F64)
        stored += float((_channel_bits(c) * count.to(F64)).sum())
    return stored / max(total, 1)


def nonzero_weight_bits(choices: Sequence[LayerChoice]) -> float:
    """Seed 003's sum_i b(W_i) * ||W_i||_0 in bits (module docstring)."""
    total = 0.0
    for c in choices:
        nnz = c.nonzeros.to(F64) if c.nonzeros is not None else weights_per_channel(c) * c.keep.to(F64)
        total += float((_channel_bits(c) * nnz).sum())
    return total
