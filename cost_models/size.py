"""Weight memory: the bytes the exporter writes to Flash.

Storage format (the exporter follows this exactly):
  For every layer, the kept output channels are grouped by weight bit-width b. Each
  precision group is ONE contiguous packed array holding n_b * wpc weights of
  target.storage(b) bits each, where wpc = weights of one output channel after input
  pruning = kept_in * in_unit / groups * kernel_numel (depthwise: kernel_numel). The
  array occupies ceil(n_b * wpc * storage(b) / 8) bytes (its last byte zero-padded).
  Pruned channels (b = 0) store nothing. `size` is the sum over groups and layers.
  `memory` adds, per kept output channel, an int32 bias, an int32 requantization
  multiplier and an int8 shift (target.params bias_bytes / multiplier_bytes / shift_bytes,
  default 4 / 4 / 1), as in CMSIS-NN and PULP-NN per-channel requantization.

Expected value during the search: n_b is replaced by sum_c theta[b, c] inside the
ceil (straight-through gradient), so at one-hot theta the formula *is* the byte count.
Pruning is counted once per side: per output channel through theta, per input channel
through wpc (never a channel-mean theta times an effective channel count).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from cost_models.common import ceil_ste, channel_mass, kept_out, param, weights_per_channel, zero
from cost_models.registry import register
from supernet.spec import LayerChoice
from targets.target import Target

# Per-channel metadata of integer-only inference: int32 bias, int32 fixed-point multiplier
# and int8 shift per output channel (Jacob et al. 2018, arXiv 1712.05877; CMSIS-NN
# arm_convolve_s8 takes per-channel int32 multiplier + int32 shift, which we pack to 1 byte).
BIAS_BYTES = 4
MULTIPLIER_BYTES = 4
SHIFT_BYTES = 1


@register("size", unit="bytes")
def size(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Bytes of packed weights (see module docstring for the exact format)."""
    total = zero(choices)
    for ch in choices:
        wpc = weights_per_channel(ch)
        for bits, n in channel_mass(ch, target):
            total = total + ceil_ste(n * wpc * target.storage(bits) / 8)
    return total


@register("size_bits", unit="bits")
def size_bits(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Seed 001's size: sum_layers wpc_eff * sum_c sum_b storage(b) * theta[b, c], no byte rounding."""
    total = zero(choices)
    for ch in choices:
        wpc = weights_per_channel(ch)
        for bits, n in channel_mass(ch, target):
            total = total + n * wpc * target.storage(bits)
    return total


def metadata_bytes_per_channel(target: Target) -> float:
    """Bytes of bias + requantization parameters stored for each kept output channel."""
    return (
        param(target, "bias_bytes", BIAS_BYTES)
        + param(target, "multiplier_bytes", MULTIPLIER_BYTES)
        + param(target, "shift_bytes", SHIFT_BYTES)
    )


@register("memory", unit="bytes")
def memory(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Packed weights + per-kept-channel bias and requantization parameters, in bytes."""
    meta = metadata_bytes_per_channel(target)
    total = size(choices, target)
    for ch in choices:
        total = total + kept_out(ch) * meta
    return total
