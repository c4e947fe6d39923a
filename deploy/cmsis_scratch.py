"""Scratch RAM of the cmsis-nn flavour, in one place for the C generator and for the RAM cost.

model.c allocates two static scratch buffers besides the activation arena: `ctx.buf`, the kernel
scratch CMSIS-NN asks for (sized for the largest call), and the precision-group buffer (a group that
does not cover all of a layer's output channels writes a dense tensor that is copied into its
channel range; a depthwise group first gathers its input channels). The formulas below take plain
ints (the C generator, deploy/c_cmsis.py) or float64 tensors of expected channel counts (the
differentiable RAM cost, deploy/buffers.py): `Arith` says how to round up and take a maximum, so both
sides compute the same bytes, exactly so at a discrete architecture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cost_models.cmsis_kernels import depthwise_s8_path

ALIGN = 4


@dataclass(frozen=True)
class Arith:
    """Rounding up and maximum for ints (the exporter) or tensors (the cost, straight-through ceil)."""

    ceil: Callable[[Any], Any]
    maximum: Callable[[Any, Any], Any]
    where: Callable[[Any, Any, Any], Any]  # where(condition, then, else)


INT = Arith(math.ceil, max, lambda c, a, b: a if c else b)


def align(n: Any, a: Arith = INT) -> Any:
    """n rounded up to the arena's 4-byte alignment."""
    return ALIGN * a.ceil(n / ALIGN)


def conv_ctx_bytes(rhs: Any, a: Arith = INT) -> Any:
    """ctx.buf for a (non-depthwise) arm_convolve_s8/_s4 call with rhs = kh * kw * input channels: an upper
    bound of what any CMSIS-NN build (plain C, DSP im2col of two columns, MVE) asks for."""
    return a.maximum(16 * a.ceil(rhs / 4), 64 * a.ceil(rhs / 16))


MVE_DW_BLOCK = 124  # CH_IN_BLOCK_MVE of arm_nnsupportfunctions.h: channels per block of the Helium depthwise


def ctx_terms(
    function: str, kernel: Sequence[int], pad: Sequence[int], dilation: Sequence[int]
) -> tuple[str, int, int]:
    """How the ctx.buf one call of `function` (cost_models/cmsis_kernels.py) asks for, in any CMSIS-NN build
    (plain C, DSP, Helium), grows with the call's input channels: ("im2col", 0, 0) for the generic convs
    (conv_ctx_bytes of taps x channels), else ("linear", per channel, constant): max(per channel x
    channels, constant); ("none", 0, 0) for functions that take no buffer.

    arm_convolve_1x1_s8_fast: two int16 columns when built with armclang's DSP path (gcc: none);
    arm_depthwise_conv_wrapper_s8: `_opt` takes one int16 im2col column on DSP cores, 4 x 124 x taps bytes
    on Helium; the 3x3 kernel and the generic one (dilated kernels) take none.
    """
    taps = math.prod(kernel)
    if function in ("arm_convolve_s8", "arm_convolve_s4"):
        return "im2col", 0, 0
    if function == "arm_convolve_1x1_s8_fast":
        return "linear", 4, 0
    if function == "arm_depthwise_conv_wrapper_s8":
        dsp = depthwise_s8_path(kernel, pad, dilation, helium=False)
        mve = depthwise_s8_path(kernel, pad, dilation, helium=True)
        return "linear", (2 * taps if dsp == "opt" else 0), (4 * MVE_DW_BLOCK * taps if mve == "opt" else 0)
    return "none", 0, 0


def kernel_ctx_bytes(
    function: str, channels: Any, kernel: Sequence[int], pad: Sequence[int], dilation: Sequence[int], a: Arith = INT
) -> Any:
    """ctx.buf one call of `function` asks for with `channels` input channels of the call (ctx_terms)."""
    kind, per_channel, constant = ctx_terms(function, kernel, pad, dilation)
    if kind == "im2col":
        return conv_ctx_bytes(math.prod(kernel) * channels, a)
    if kind == "linear":
        return a.maximum(per_channel * channels, 0 * channels + constant)
    return 0 * channels


def avgpool_ctx_bytes(channels: Any) -> Any:
    """ctx.buf for arm_avgpool_s8 (one int32 accumulator per channel)."""
    return 4 * channels


def group_bytes(
    count: Any,
    full: Any,
    depthwise: Any,
    prepadded: Any,
    in_pixels: Any,
    out_pixels: Any,
    padded_pixels: Any,
    a: Arith = INT,
) -> Any:
    """Group scratch one precision group of `count` channels needs (0 when it writes in place).

    full: the group holds every kept output channel (it writes the layer's output directly);
    prepadded: an odd-count s4 depthwise group with padding, which gets an explicitly padded input.
    (Ints and bools, or tensors with `a.where`: the cost evaluates every group of a network as one batch
    and reads no value back to the host.)
    """
    dense_out = a.where(full, 0 * count, align(out_pixels * count, a))
    gathered = align(in_pixels * count, a) + align(out_pixels * count, a)
    plain = a.where(out_pixels > 1, dense_out, 0 * count)
    in_place = a.where(depthwise, a.where(full, 0 * count, gathered), plain)
    return a.where(prepadded, align(padded_pixels * count, a) + dense_out, in_place)
