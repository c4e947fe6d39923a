"""GAP8 latency: PULP-NN on the 8-core cluster, where bits save memory but not cycles.

Analytic cycle model of the 8-bit PULP-NN kernels (kernels: Garofalo et al. 2019,
"PULP-NN: Accelerating Quantized Neural Networks on Parallel Ultra-Low-Power RISC-V
Processors", arXiv 1908.11263; formula as given in bitgate's DESIGN.md, not re-fitted here):
  conv      = ceil(OX/2) * ceil(OY/8) * (2*Kx*Ky*Cin + ceil(Cout/4) * (15 + 14*ceil(Kx*Ky*Cin/4)))
  depthwise = 4 * ceil(Cout/4) * OX * OY * Kx * Ky
  linear    = ceil(Cin/2) * ceil(Cout/4)
Cin/Cout are expected kept channel counts (Cin per group, linear: kept features), each
ceil straight-through. Orientation as in PLiNIO's GAP8 model (eml-eda/plinio,
plinio/cost/gap8_latency.py: `out_x, out_y = output_shape[2:]`, "parallelization is on output
width"), the model the seed paper used: OX = output height H, OY = output width W, i.e.
iterations = ceil(H/2) * ceil(W/8). Conv1d runs as (1, L): OX = 1, OY = L. On square maps
either orientation gives the same count; a 3x3, 64 -> 64 conv with a 25x5 (H x W) output
costs 13 * 33,648 = 437,424 cycles, and 403,776 with H and W swapped.
A layer whose channels are all pruned disappears and costs 0.

Mixed-precision PULP-NN kernels (Bruschi et al. 2020, arXiv 2007.07759) reach ~16
MAC/cycle on 8 cores, like 8-bit PULP-NN (15.5): GAP8 only has 8-bit SIMD dot products,
so sub-byte weights are unpacked first. The model therefore ignores weight bits except for
an optional unpack overhead: cycles *= 1 + subbyte_overhead * (share of kept channels with
fewer than 8 bits). target.params["subbyte_overhead"] defaults to 0 (no measured figure).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from cost_models.common import ceil_ste, param, zero
from cost_models.registry import for_family, register
from cost_models.stacked import Stacked, layer_constants, refuse_unstorable, stack
from supernet.spec import LayerChoice, LayerSpec
from targets.target import Target


def _ox_oy_kx_ky(choice: LayerChoice) -> tuple[int, int, int, int]:
    return _geometry(choice.spec)


def _geometry(spec: LayerSpec) -> tuple[int, int, int, int]:
    """(OX, OY, Kx, Ky) in PLiNIO's naming; a linear layer: (1, 1, 1, 1), unused."""
    if spec.kind == "linear":
        return 1, 1, 1, 1
    if not spec.out_spatial:
        raise ValueError(f"layer {spec.name!r}: conv LayerSpec needs out_spatial for the GAP8 latency model")
    if len(spec.out_spatial) > 2 or len(spec.kernel_size) > 2:
        raise ValueError(f"layer {spec.name!r}: the GAP8 model handles Conv1d/Conv2d only")
    height, width = (1, *spec.out_spatial)[-2:]  # Conv1d -> height 1
    kh, kw = (1, 1, *spec.kernel_size)[-2:]
    return height, width, kh, kw


def _constants(spec: LayerSpec) -> tuple[float, ...]:
    """Per layer: OX*OY*Kx*Ky (depthwise), Kx*Ky, ceil(OX/2)*ceil(OY/8), linear?, depthwise?"""
    ox, oy, kx, ky = _geometry(spec)
    return ox * oy * kx * ky, kx * ky, math.ceil(ox / 2) * math.ceil(oy / 8), spec.kind == "linear", spec.depthwise


def layer_cycles(choice: LayerChoice) -> Tensor:
    """PULP-NN cycles of one layer at 8 bits, from expected kept channel counts."""
    return _cycles(stack([choice]))[0]


def _cycles(s: Stacked) -> Tensor:
    """(L,) PULP-NN cycles at 8 bits of every layer (each layer's own formula, selected per layer)."""
    area, taps, iterations, linear, depthwise = layer_constants(s.geometry, "gap8", _constants).unbind(1)
    cout4 = ceil_ste(s.kept_out / 4)
    fin = s.in_features
    dense = fin / s.geometry.groups
    present = cout4.clamp(max=1.0)  # 0 when every output channel is pruned, else 1
    conv = iterations * (2 * taps * dense * present + cout4 * (15 + 14 * ceil_ste(taps * dense / 4)))
    cycles = torch.where(depthwise > 0, 4 * cout4 * area, conv)
    return torch.where(linear > 0, ceil_ste(fin / 2) * cout4, cycles)


def gap8_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected cluster cycles of every layer, shape (L,)."""
    overhead = param(target, "subbyte_overhead", 0.0)
    if not choices:
        return zero(choices).new_zeros(0)
    s = stack(choices)
    refuse_unstorable(s, tuple(target.storage_bits), target.name)
    sub = (s.mass * s.column([0 < b < 8 for b in s.options])).sum(1)
    share = sub / s.kept_out.clamp(min=1e-12)
    return _cycles(s) * (1 + overhead * share)


@register("latency_gap8", unit="cycles", applies_to=for_family("gap8"), terms=gap8_terms)
def latency_gap8(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected cluster cycles on GAP8; pruning saves cycles, sub-byte weights (almost) do not."""
    return gap8_terms(choices, target).sum()
