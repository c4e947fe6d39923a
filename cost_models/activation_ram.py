"""Peak activation RAM: what the target's deploy flavour allocates, its arena plus kernel scratch.

With the plan the exporter makes for that flavour (choices.deploy_plan, see deploy/buffers.py) this
is what the exported model.c allocates: while an op runs, its inputs, its output and every tensor
still needed later (a residual branch waiting for its add) are alive; the largest sum of their bytes
(each rounded up to the arena's alignment) is the arena, or, at a discrete architecture, the arena of
the exporter's own placement; the cmsis-nn flavour adds CMSIS-NN's kernel scratch and its
precision-group scratch. Each buffer has kept_channels * elements_per_channel values; pruning shrinks
it through its producer's keep probabilities, and its width follows the consuming layer's bits
(reference: int32 tensors at adds and average pools take 4 bytes per value; cmsis-nn: all int8).

How the reference flavour stores sub-byte activations is target data, params.activation_storage:
  "byte"   (default) one value per byte;
  "packed" ceil(values * bits / 8) bytes (PULP-NN / XpulpNN-style sub-byte kernels; the reference C
           packs them the same way). The cmsis-nn flavour stores every activation in an int8.

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
from supernet.spec import DeployPlan, LayerChoice, LayerChoices
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


def buffer_bytes(choices: Sequence[LayerChoice], plan: DeployPlan, mode: str) -> Tensor:
    """Bytes of every planned buffer, each rounded up to the plan's alignment, shape (B,)."""
    ref = zero(choices)
    out = []
    for buf in plan.buffers:
        channels = kept_out(choices[buf.source]) if buf.source is not None else ref + buf.channels
        values = channels * buf.per_channel
        if buf.bits_from is None:
            raw = storage_bytes(values, float(buf.bits), mode)
        else:
            ch = choices[buf.bits_from]
            raw = storage_bytes(values, expected_bits(ch.act_bits, ch.act_probs) + buf.bits, mode)
        out.append(ceil_ste(raw / plan.align) * plan.align)
    return torch.stack(out)


def live_matrix(buffers, device=None) -> Tensor:
    """(ops, buffers) 0/1 matrix: buffer b is alive while op t runs."""
    n_ops = max(b.last for b in buffers)
    t = torch.arange(n_ops, device=device).unsqueeze(1)
    first = torch.tensor([b.first for b in buffers], device=device)
    last = torch.tensor([b.last for b in buffers], device=device)
    return ((first <= t) & (t <= last)).to(F64)


def planned_ram(choices: Sequence[LayerChoice], plan: DeployPlan, mode: str) -> Tensor:
    """Arena (largest live sum, or the exporter's placement at a discrete architecture) + scratch."""
    sizes = buffer_bytes(choices, plan, mode)
    peak = (live_matrix(plan.buffers, sizes.device) @ sizes).max()
    if plan.place is not None:  # one architecture: the exact arena of the exporter's first-fit placement
        arena = plan.place([int(round(v)) for v in sizes.detach().tolist()])
        peak = peak + (arena - peak.detach())
    return peak + plan.scratch(choices) if plan.scratch is not None else peak


@register("peak_activation_ram", unit="bytes")
def peak_activation_ram(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """RAM the target's deploy flavour allocates for activations: its arena plus kernel scratch."""
    if not choices:
        return zero(choices)
    flavour = target.deploy_flavour
    mode = "byte" if flavour.int8_activations else activation_storage(target)
    plan = choices.deploy_plan(flavour.name) if isinstance(choices, LayerChoices) else None
    if plan is not None:
        return planned_ram(choices, plan, mode)
    return torch.stack([sum(layer_buffers(ch, mode)) for ch in choices]).max()
