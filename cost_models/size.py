"""Weight memory: the bytes the exporter writes to Flash.

Storage format (the exporter follows this exactly):
  For every layer, the kept output channels are grouped by weight bit-width b. Each
  precision group is ONE contiguous packed array holding n_b * wpc weights of
  target.storage(b) bits each, where wpc = weights of one output channel after input
  pruning = kept_in * in_unit / groups * kernel_numel (depthwise: kernel_numel). The
  array occupies ceil(n_b * wpc * storage(b) / 8) bytes (its last byte zero-padded).
  Pruned channels (b = 0) store nothing. `size` is the sum over groups and layers.
  `memory` adds, per kept output channel, the bias and requantization parameters the target's
  deploy flavour writes (targets/flavour.py): reference int32 bias + int32 multiplier + int8 shift
  (9 bytes); cmsis-nn int32 bias + int32 multiplier + int32 shift (12 bytes, CMSIS-NN's
  cmsis_nn_per_channel_quant_params).

Expected value during the search: n_b is replaced by sum_c theta[b, c] inside the
ceil (straight-through gradient), so at one-hot theta the formula *is* the byte count.
Pruning is counted once per side: per output channel through theta, per input channel
through wpc (never a channel-mean theta times an effective channel count).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from cost_models.common import ceil_ste, zero
from cost_models.registry import register
from cost_models.stacked import refuse_unstorable, stack
from supernet.spec import LayerChoice
from targets.target import Target


def _weight_bits(choices: Sequence[LayerChoice], target: Target, whole_bytes: bool) -> Tensor:
    """Per layer, the sum over precision groups of n_b * wpc * storage(b) bits, each group rounded up to a
    whole byte when `whole_bytes` (the packed arrays the exporter writes), shape (L,). One batched computation."""
    if not choices:
        return zero(choices).new_zeros(0)
    s = stack(choices)
    refuse_unstorable(s, tuple(target.storage_bits), target.name)
    storage = s.column([target.storage(b) if b in target.storage_bits or b == 0 else 0 for b in s.options])
    group = s.mass * s.weights_per_channel.unsqueeze(1) * storage  # (L, O) bits
    return (ceil_ste(group / 8) * 8 if whole_bytes else group).sum(1)


def size_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    return _weight_bits(choices, target, whole_bytes=True) / 8


def size_bits_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    return _weight_bits(choices, target, whole_bytes=False)


@register("size", unit="bytes", terms=size_terms)
def size(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Bytes of packed weights (see module docstring for the exact format)."""
    return size_terms(choices, target).sum()


@register("size_bits", unit="bits", terms=size_bits_terms)
def size_bits(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Seed 001's size: sum_layers wpc_eff * sum_c sum_b storage(b) * theta[b, c], no byte rounding."""
    return size_bits_terms(choices, target).sum()


def metadata_bytes_per_channel(target: Target) -> float:
    """Bytes of bias + requantization parameters the target's deploy flavour stores per kept channel."""
    return float(target.deploy_flavour.metadata_bytes)


def memory_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    weights = size_terms(choices, target)
    if not choices:
        return weights
    return weights + stack(choices).kept_out * metadata_bytes_per_channel(target)


@register("memory", unit="bytes", terms=memory_terms)
def memory(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Packed weights + per-kept-channel bias and requantization parameters, in bytes."""
    return memory_terms(choices, target).sum()
