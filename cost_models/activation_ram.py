"""Peak activation RAM: the largest sum of live buffer bytes over the ops, in execution order.

With the buffers the exporter plans (choices.buffers, see deploy/buffers.py) this is what the
exported network holds: while an op runs, its inputs, its output and every tensor still needed
later (a residual branch waiting for its add) are alive; int32 tensors at adds and average
pools take 4 bytes per value; nothing runs in place and nothing overlaps (no arena reuse within
an op). Each buffer has kept_channels * elements_per_channel values; pruning shrinks it through
its producer's keep probabilities, and its width follows the consuming layer's activation bits.

How sub-byte activations are stored is target data, params.activation_storage:
  "byte"   (default) one value per byte, as the exporter's int8/uint8 tensors and CMSIS-NN hold them;
  "packed" ceil(values * bits / 8) bytes (PULP-NN / XpulpNN-style sub-byte kernels).

Without a buffer plan (hand-built layer lists, or a network the exporter cannot handle) the
estimate is layer by layer: max over layers of input buffer + output buffer, no live branch.

The plain max is differentiable almost everywhere (the gradient reaches the peak op).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from cost_models.common import F64, ceil_ste, expected_bits, in_features, in_positions, kept_out, zero
from cost_models.registry import register
from supernet.spec import LayerChoice
from targets.target import Target

STORAGE = ("byte", "packed")


def activation_storage(target: Target) -> str:
    """How the target stores sub-byte activations ("byte" or "packed")."""
    mode = target.params.get("activation_storage", "byte")
    if mode not in STORAGE:
        raise ValueError(f"target {target.name!r}: params.activation_storage must be one of {STORAGE}, got {mode!r}")
    return mode


def storage_bytes(values: Tensor, bits: Tensor | float, mode: str) -> Tensor:
    """Bytes of `values` activations of `bits` bits (32 = int32) under the storage mode."""
    if isinstance(bits, (int, float)) and bits > 8:
        return values * math.ceil(bits / 8)
    if mode == "byte":
        return values * 1.0
    return ceil_ste(values * bits / 8)


def layer_buffers(choice: LayerChoice, mode: str = "packed") -> tuple[Tensor, Tensor]:
    """(input bytes, output bytes) of one layer, in expectation over its choices (no buffer plan)."""
    spec = choice.spec
    in_bits = expected_bits(choice.act_bits, choice.act_probs)
    out_bits = expected_bits(choice.out_act_bits, choice.out_act_probs)
    out_pixels = math.prod(spec.out_spatial) if spec.out_spatial else 1
    if spec.kind == "conv" and not spec.out_spatial:
        raise ValueError(f"layer {spec.name!r}: conv LayerSpec needs out_spatial for activation costs")
    in_bytes = storage_bytes(in_features(choice) * in_positions(choice), in_bits, mode)
    out_bytes = storage_bytes(kept_out(choice) * out_pixels, out_bits, mode)
    return in_bytes, out_bytes


def buffer_bytes(choices: Sequence[LayerChoice], mode: str) -> Tensor:
    """Bytes of every planned buffer, shape (B,)."""
    ref = zero(choices)
    out = []
    for buf in choices.buffers:
        channels = kept_out(choices[buf.source]) if buf.source is not None else ref + buf.channels
        values = channels * buf.per_channel
        if buf.bits_from is None:
            out.append(storage_bytes(values, float(buf.bits), mode))
        else:
            ch = choices[buf.bits_from]
            out.append(storage_bytes(values, expected_bits(ch.act_bits, ch.act_probs) + buf.bits, mode))
    return torch.stack(out)


def live_matrix(buffers, device=None) -> Tensor:
    """(ops, buffers) 0/1 matrix: buffer b is alive while op t runs."""
    n_ops = max(b.last for b in buffers)
    t = torch.arange(n_ops, device=device).unsqueeze(1)
    first = torch.tensor([b.first for b in buffers], device=device)
    last = torch.tensor([b.last for b in buffers], device=device)
    return ((first <= t) & (t <= last)).to(F64)


@register("peak_activation_ram", unit="bytes")
def peak_activation_ram(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """max over ops of the bytes of every buffer alive during that op."""
    mode = activation_storage(target)
    if not choices:
        return zero(choices)
    if getattr(choices, "buffers", None):
        sizes = buffer_bytes(choices, mode)
        return (live_matrix(choices.buffers, sizes.device) @ sizes).max()
    return torch.stack([sum(layer_buffers(ch, mode)) for ch in choices]).max()
