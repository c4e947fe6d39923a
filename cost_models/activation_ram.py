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
from typing import NamedTuple

import torch
from torch import Tensor

from cost_models.common import F64, ceil_ste, expected_bits, in_features, in_positions, kept_out, zero
from cost_models.registry import register
from cost_models.stacked import stack
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
    """Bytes of every planned buffer, each rounded up to the plan's alignment, shape (B,): one batched
    computation over the buffers (their sources and bit-widths gathered from per-layer rows)."""
    s = stack(choices)
    c = _plan_constants(plan, choices[0].weight_probs.device)
    kept = torch.cat([s.kept_out, s.kept_out.new_zeros(1)])  # index L: a buffer of all channels
    channels = torch.where(c.has_source, kept[c.source], c.channels)
    values = channels * c.per_channel
    act = torch.cat([s.expected_act_bits(), s.kept_out.new_zeros(1)])
    bits = torch.where(c.has_bits_from, act[c.bits_from] + c.bits, c.bits)  # bits_from: an offset on its bits
    if mode == "byte":
        raw = values * c.byte_width
    else:  # packed sub-byte values; wide (int32) buffers take whole bytes per value
        raw = torch.where(c.wide, values * c.byte_width, ceil_ste(values * bits / 8))
    return ceil_ste(raw / plan.align) * plan.align


class _PlanConstants(NamedTuple):
    has_source: Tensor
    source: Tensor
    channels: Tensor
    per_channel: Tensor
    has_bits_from: Tensor
    bits_from: Tensor
    bits: Tensor
    wide: Tensor  # static widths above 8 bits (int32 tensors)
    byte_width: Tensor  # whole bytes per value: ceil(bits / 8) for wide buffers, else 1
    live: Tensor  # (ops, buffers) 0/1


def _plan_constants(plan: DeployPlan, device: torch.device) -> _PlanConstants:
    """The plan's per-buffer numbers as tensors, made once per plan and device."""
    cache = plan.__dict__.setdefault("_tensors", {})  # a frozen dataclass still has its __dict__
    if device not in cache:
        bufs = plan.buffers
        n_layers = -1  # a placeholder row index (the appended zero) for buffers without a layer

        def f64(values) -> Tensor:
            return torch.tensor([float(v) for v in values], dtype=F64, device=device)

        def idx(values) -> Tensor:
            return torch.tensor([n_layers if v is None else v for v in values], dtype=torch.long, device=device)

        wide = [b.bits_from is None and b.bits > 8 for b in bufs]
        with torch.inference_mode(False), torch.no_grad():
            cache[device] = _PlanConstants(
                has_source=torch.tensor([b.source is not None for b in bufs], device=device),
                source=idx(b.source for b in bufs),
                channels=f64(b.channels for b in bufs),
                per_channel=f64(b.per_channel for b in bufs),
                has_bits_from=torch.tensor([b.bits_from is not None for b in bufs], device=device),
                bits_from=idx(b.bits_from for b in bufs),
                bits=f64(b.bits for b in bufs),
                wide=torch.tensor(wide, device=device),
                byte_width=f64(math.ceil(b.bits / 8) if w else 1 for b, w in zip(bufs, wide, strict=True)),
                live=live_matrix(bufs, device),
            )
    return cache[device]


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
    peak = (_plan_constants(plan, sizes.device).live @ sizes).max()
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
