"""Peak activation RAM: the largest input + output buffer pair over the layers.

Assumptions (a layer-by-layer executor such as CMSIS-NN / PULP-NN / TFLM with a
ping-pong arena): each layer reads one input buffer and writes one output buffer that
are both alive while it runs; nothing else is alive (no residual branch kept for a later
add, no im2col scratch, no overlap of input and output). Buffers are packed at the
activation bit-width: ceil(elements * bits / 8) bytes. The input has kept_in * in_unit
channels of prod(in_spatial) pixels (linear: in_channels * in_unit features, in_spatial
empty); the output has kept_out channels of prod(out_spatial) pixels. Pruning a
producer's channels shrinks its consumer's input buffer through in_keep.

The plain max is differentiable almost everywhere (the gradient reaches the peak layer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from cost_models.common import ceil_ste, expected_bits, in_features, in_positions, kept_out, zero
from cost_models.registry import register
from supernet.spec import LayerChoice
from targets.target import Target


def layer_buffers(choice: LayerChoice) -> tuple[Tensor, Tensor]:
    """(input bytes, output bytes) of one layer, in expectation over its choices."""
    spec = choice.spec
    in_bits = expected_bits(choice.act_bits, choice.act_probs)
    out_bits = expected_bits(choice.out_act_bits, choice.out_act_probs)
    out_pixels = math.prod(spec.out_spatial) if spec.out_spatial else 1
    if spec.kind == "conv" and not spec.out_spatial:
        raise ValueError(f"layer {spec.name!r}: conv LayerSpec needs out_spatial for activation costs")
    in_bytes = ceil_ste(in_features(choice) * in_positions(choice) * in_bits / 8)
    out_bytes = ceil_ste(kept_out(choice) * out_pixels * out_bits / 8)
    return in_bytes, out_bytes


@register("peak_activation_ram", unit="bytes")
def peak_activation_ram(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """max over layers of (input buffer + output buffer) bytes."""
    if not choices:
        return zero(choices)
    return torch.stack([sum(layer_buffers(ch)) for ch in choices]).max()
