"""Which CMSIS-NN function the cmsis-nn flavour calls for one precision group of a layer.

One rule, read by the exporter (deploy/cmsis_plan.py writes the name into model.json, c_cmsis_ops.py
calls it) and by the Cortex-M latency model (cost_models/latency_cortexm.py prices that function), so
the model always prices the kernel the export runs. The rule looks at the layer's static geometry only
(kernel, stride, padding, dilation, depthwise), never at channel counts, so the choice is the same for
every architecture the search visits and the cost stays exact at one-hot gates.

Measured (benchmarks/cortexm_calibrate.py, docs/latency.md "Which kernels"): CMSIS-NN's 1x1 paths
and its depthwise wrapper (3x3 kernel on DSP cores, `_opt` elsewhere) cut DS-CNN by 24% (M4) to 39%
(M55) and MobileNetV2 by 21-34% against the generic kernels, bit for bit the same outputs. Not used:
`arm_depthwise_conv_s4_opt` (its Helium path differs from the generic kernel on a 28-channel DS-CNN
group), the 1xN path and Helium's `arm_convolve_even_s4` (both chosen by channel-count parity; the
latter saved 0.2% of a ResNet-8 on M55).
"""

from __future__ import annotations

from collections.abc import Sequence

ONE = (1, 1)
ZERO = (0, 0)


def conv_function(
    storage_bits: int,
    depthwise: bool,
    kernel: Sequence[int],
    stride: Sequence[int],
    pad: Sequence[int],
    dilation: Sequence[int],
    out_pixels: int,
) -> str:
    """The CMSIS-NN function of one group: s8 or s4 weights (`storage_bits`), 2-D geometry (h, w) as
    the exporter writes it (`pad` = top, left; Linear layers are 1x1 convolutions on a 1x1 image).

    On a one-pixel output (Linear layers) the generic s8 kernel's single-column path beats the 1x1 one
    on DSP cores (1024 -> 64: 187 k against 318 k instructions on M4; 2% slower on M55), while for s4
    the 1x1 kernel wins everywhere (318 k against 499 k on M4).
    """
    if storage_bits not in (4, 8):
        raise ValueError(f"CMSIS-NN has s8 and s4 kernels, not {storage_bits}-bit storage")
    s = f"s{storage_bits}"
    if depthwise:
        return f"arm_depthwise_conv_wrapper_{s}" if storage_bits == 8 else f"arm_depthwise_conv_{s}"
    if storage_bits == 8 and out_pixels == 1:
        return "arm_convolve_s8"
    if tuple(kernel) == ONE and tuple(pad) == ZERO and tuple(dilation) == ONE:
        return f"arm_convolve_1x1_{s}_fast" if tuple(stride) == ONE else f"arm_convolve_1x1_{s}"
    return f"arm_convolve_{s}"


def depthwise_s8_path(kernel: Sequence[int], pad: Sequence[int], dilation: Sequence[int], helium: bool) -> str:
    """What arm_depthwise_conv_wrapper_s8 runs (one batch, depth multiplier 1, as exported): "3x3"
    (arm_depthwise_conv_3x3_s8: DSP and plain-C builds, 3x3 kernel, padding <= 1), "opt"
    (arm_depthwise_conv_s8_opt) or "generic" (arm_depthwise_conv_s8: dilated kernels)."""
    if tuple(dilation) != ONE:
        return "generic"
    if not helium and tuple(kernel) == (3, 3) and max(pad) <= 1:
        return "3x3"
    return "opt"
