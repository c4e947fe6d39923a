"""Sparse weight memory: bytes of the packed weights when each precision group may be stored sparse.

Format (deploy/sparse.py writes and reads it): a layer's kept output channels are grouped
by bit-width b as for `size`; a group of n channels of wpc weights each (wpc after input pruning)
is stored either

  dense    ceil(n * wpc * s / 8) bytes, as `size` (s = target.storage(b)), or
  bitmask  ceil(n * wpc / 8) bytes of mask (bit k set = weight k of the group is non-zero, the
           little-endian bit order of packing.py), then ceil(nnz * s / 8) bytes: the nnz non-zero
           integer weights packed at s bits, in stream order,

whichever is smaller (the exporter records the choice per group). size_sparse = sum over groups
and layers. nnz comes from LayerChoice.nonzeros (non-zero integer weights per output channel);
without it every weight counts as non-zero, and size_sparse == size. Seed 003 (Yang et al., CVPR
2020) prices a layer as b * ||W||_0 bits, which leaves out the index that says where the non-zeros
are; a microcontroller kernel needs it, and this cost includes it.

Expected value: n_b = sum_c theta[b, c] and nnz_b = sum_c theta[b, c] * nnz_c inside the ceils
(straight-through), so at one-hot theta it is the byte count of the export.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cost_models.common import ceil_ste, zero
from cost_models.registry import register
from cost_models.stacked import refuse_unstorable, stack
from supernet.spec import LayerChoice
from targets.target import Target


def group_bytes(channels: Tensor, wpc: Tensor, nonzeros: Tensor, storage: Tensor | int) -> Tensor:
    """min(dense, bitmask) bytes of one precision group (see module docstring)."""
    dense = ceil_ste(channels * wpc * storage / 8)
    sparse = ceil_ste(channels * wpc / 8) + ceil_ste(nonzeros * storage / 8)
    return torch.minimum(dense, sparse)


def size_sparse_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Bytes of every layer's packed weights, shape (L,)."""
    if not choices:
        return zero(choices).new_zeros(0)
    s = stack(choices)
    refuse_unstorable(s, tuple(target.storage_bits), target.name)
    storage = s.column([target.storage(b) if b in target.storage_bits or b == 0 else 0 for b in s.options])
    wpc = s.weights_per_channel.unsqueeze(1)
    every = s.mass * wpc  # without counts every weight counts as non-zero
    nnz = every if s.nonzero_mass is None else torch.where(s.has_nonzeros.unsqueeze(1), s.nonzero_mass, every)
    return group_bytes(s.mass, wpc, nnz, storage).sum(1)  # the 0-bit option: storage 0, so its dense bytes 0


@register("size_sparse", unit="bytes", terms=size_sparse_terms)
def size_sparse(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Bytes of packed weights, each precision group dense or bitmask + non-zeros, whichever is smaller."""
    return size_sparse_terms(choices, target).sum()
