"""A layer group's CMSIS-NN call as the latency table sees it: its kind and the loop counts of its Call.

The same two functions describe a measured call (deploy/calibration reads the exported model.json) and
a priced one (latency_cortexm reads the LayerSpec and the gate probabilities), so a table fitted to
measurements prices exactly the quantities it was fitted on.

Kinds (one row of coefficients each in a latency table):
  conv_s8 / conv_s4        arm_convolve_s8 / _s4 (im2col)
  conv1x1_s8 / conv1x1_s4  arm_convolve_1x1_s8_fast / _s4_fast (1x1, stride 1)
  fc_s8 / fc_s4            a Linear layer (1x1 on a one-pixel output): arm_convolve_s8 / _1x1_s4_fast
  conv1x1s_s8 / _s4        arm_convolve_1x1_s8 / _s4 (strided 1x1)
  dw3x3_s8, dwopt_s8       arm_depthwise_conv_wrapper_s8 running the 3x3 kernel (DSP) or `_opt`
  dw_s8, dw_s4             the generic depthwise kernels (dilated s8; every s4)
  scatter, gather, pad     a precision group's copies (model.c's glue around a group's call)
  add, avgpool, maxpool, requant, clamp, affine, concat   the network's glue ops
  network                  bg_infer's own prologue / epilogue and the output copy
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from torch import Tensor

from cost_models.cmsis_kernels import conv_function, depthwise_s8_path
from cost_models.cortexm_features import Call
from supernet.spec import LayerSpec

CONV_KINDS = (
    "conv_s8",
    "conv_s4",
    "conv1x1_s8",
    "conv1x1_s4",
    "conv1x1s_s8",
    "conv1x1s_s4",
    "fc_s8",
    "fc_s4",
    "dw3x3_s8",
    "dwopt_s8",
    "dw_s8",
    "dw_s4",
)
GROUP_GLUE = ("scatter", "gather", "pad")
NET_GLUE = ("add", "avgpool", "maxpool", "requant", "clamp", "affine", "concat")
KINDS = (*CONV_KINDS, *GROUP_GLUE, *NET_GLUE, "network")
PATHS = ("dsp", "mve")  # CMSIS-NN's code path on the core (plain C is not calibrated)


def conv_kind(
    function: str, kernel: Sequence[int], pad: Sequence[int], dilation: Sequence[int], path: str, out_pixels: int
) -> str:
    """The table kind of one call of `function` (cost_models/cmsis_kernels.py) on a core whose CMSIS-NN
    build takes `path` ("dsp" or "mve"); a 1x1 kernel on a one-pixel output (a Linear layer) is a kind of its
    own, since its kernels take their one-column paths."""
    s = function[-2:] if not function.endswith("_fast") else function[-7:-5]
    if out_pixels == 1 and tuple(kernel) == (1, 1) and function in ("arm_convolve_s8", "arm_convolve_1x1_s4_fast"):
        return f"fc_{s}"
    if function.startswith("arm_depthwise_conv_wrapper"):
        return {"3x3": "dw3x3", "opt": "dwopt", "generic": "dw"}[
            depthwise_s8_path(kernel, pad, dilation, path == "mve")
        ] + "_s8"
    if function.startswith("arm_depthwise_conv"):
        return f"dw_{s}"
    if function.endswith("_fast"):
        return f"conv1x1_{s}"
    if function.startswith("arm_convolve_1x1"):
        return f"conv1x1s_{s}"
    if function in ("arm_convolve_s8", "arm_convolve_s4"):
        return f"conv_{s}"
    raise ValueError(f"no latency kind for CMSIS-NN function {function!r}")


@lru_cache(maxsize=4096)
def _valid(size_in: int, size_out: int, k: int, stride: int, pad: int, dilation: int) -> int:
    """Kernel taps inside the input, summed over the output positions of one dim."""
    return sum(1 for o in range(size_out) for t in range(k) if 0 <= o * stride - pad + t * dilation < size_in)


def conv_call(
    n: Tensor | float,
    c: Tensor | float,
    in_hw: Sequence[int],
    out_hw: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    pad: Sequence[int],
    dilation: Sequence[int],
) -> Call:
    """The Call of one group: n output channels reading c input channels (depthwise: c = n), 2-D geometry."""
    (ih, iw), (oh, ow), (kh, kw) = in_hw, out_hw, kernel
    rows = _valid(ih, oh, kh, stride[0], pad[0], dilation[0])
    valid = rows * _valid(iw, ow, kw, stride[1], pad[1], dilation[1])
    ph = max(ih + pad[0], (oh - 1) * stride[0] + (kh - 1) * dilation[0] + 1)
    pw = max(iw + pad[1], (ow - 1) * stride[1] + (kw - 1) * dilation[1] + 1)
    return Call(n=n, c=c, P=oh * ow, Ho=oh, Wo=ow, Pin=ih * iw, T=kh * kw, V=valid, R=rows * ow, Ppad=ph * pw)


def glue_call(elements: Tensor | float, pixels: int = 1, window: int = 1, inputs: int = 1) -> Call:
    """The Call of a glue op: `elements` output values over `pixels` positions, `window` taps per output value."""
    return Call(E=elements, c=elements / pixels, P=pixels, W=window, X=inputs)


@dataclass(frozen=True)
class LayerCalls:
    """What the calls of a layer's precision groups depend on besides their channel counts."""

    geometry: dict  # in_hw, out_hw, kernel, stride, pad, dilation (2-D, as the exporter runs it)
    padded: dict  # the same for an explicitly padded input read with padding 0
    out_pixels: int
    taps: int  # kh * kw
    padded_input: bool  # any padding: an odd s4 depthwise group reads an explicitly padded copy
    kinds: dict  # storage bits -> table kind


@lru_cache(maxsize=1024)
def layer_calls(spec: LayerSpec, path: str) -> LayerCalls:
    """The LayerCalls of `spec` on a core whose CMSIS-NN build takes `path` (computed once per spec and path)."""
    if spec.kind == "linear":
        one = (1, 1)
        g = {"in_hw": one, "out_hw": one, "kernel": one, "stride": one, "pad": (0, 0), "dilation": one}
    else:
        stride, pad, dilation = spec.geometry()
        g = {
            "in_hw": two_d(spec.in_spatial, 1),
            "out_hw": two_d(spec.out_spatial, 1),
            "kernel": two_d(spec.kernel_size, 1),
            "stride": two_d(stride, 1),
            "pad": two_d(pad, 0),
            "dilation": two_d(dilation, 1),
        }
    out_pixels = g["out_hw"][0] * g["out_hw"][1]
    kinds = {}
    for storage in (4, 8):
        fn = conv_function(storage, spec.depthwise, g["kernel"], g["stride"], g["pad"], g["dilation"], out_pixels)
        kinds[storage] = conv_kind(fn, g["kernel"], g["pad"], g["dilation"], path, out_pixels)
    (ih, iw), (oh, ow), (kh, kw) = g["in_hw"], g["out_hw"], g["kernel"]
    (sh, sw), (ph, pw), (dh, dw) = g["stride"], g["pad"], g["dilation"]
    hw = (max(ih + ph, (oh - 1) * sh + (kh - 1) * dh + 1), max(iw + pw, (ow - 1) * sw + (kw - 1) * dw + 1))
    return LayerCalls(g, {**g, "in_hw": hw, "pad": (0, 0)}, out_pixels, kh * kw, any(g["pad"]), kinds)


def two_d(values: Sequence[int], fill: int) -> tuple[int, int]:
    """A Conv1d geometry as the exporter runs it, (1, L); Conv2d unchanged."""
    v = tuple(values)
    return (fill, *v) if len(v) == 1 else (v[0], v[1]) if len(v) == 2 else (fill, fill)


def pixels(shape: Sequence[int]) -> int:
    return math.prod(shape) if shape else 1
