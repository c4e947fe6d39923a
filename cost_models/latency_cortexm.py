"""Arm Cortex-M latency with CMSIS-NN: instructions measured per kernel call, times cycles per instruction.

    cycles = cycles_per_instruction x ( sum over layers and precision groups of the group's kernel call
                                        + the group's copies + the network's glue ops + bg_infer itself )

Each call is priced by a table of retired instructions fitted to the CMSIS-NN code the cmsis-nn export
runs, measured on the emulated core (target.params.latency_table, e.g. targets/devices/latency/
cortex-m4.toml; benchmarks/cortexm_calibrate.py): per kernel kind (cost_models/cortexm_calls.py), a sum
of coefficient x loop count (cost_models/cortexm_features.py). So s4 kernels cost what unpacking nibbles
costs, a first layer with one input channel what its im2col costs, a Linear layer what its one-column
path costs. The function of each group is the exporter's own rule (cost_models/cmsis_kernels.py).
cycles_per_instruction (target.params) is the core's published-figure factor with its source in the
target file: the instruction part is measured, the factor is not.

Expected costs, exact at one-hot gates: a group of bit-width b has n_b = sum_c theta[b, c] channels; its
call happens with probability 1 - prod_c (1 - theta[b, c]) (per-call terms are weighted by it); its input
channels are the expected kept inputs. A group that is not the layer's only one copies its output into
place (scatter) and, for a depthwise layer, gathers its input channels first (weighted by the probability
that another group exists). An s4 depthwise group with an odd channel count and padding gets a padded
input copy (model.c's `pad`): priced by the rounded count's parity. The network's glue ops (adds, pools,
requantization, clamps, concatenations, standalone BatchNorms) come from the cmsis-nn deploy plan
(`LayerChoices.deploy_plan("cmsis-nn")`), with bg_infer's own few instructions; hand-built choice lists
without a plan price the layers' calls and copies only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from cost_models.cmsis_kernels import conv_function
from cost_models.common import F64, channel_mass, in_features, kept_out, param, theta, zero
from cost_models.cortexm_calls import conv_call, conv_kind, glue_call, two_d
from cost_models.cortexm_features import Call, fold
from cost_models.cortexm_table import LatencyTable, load_table
from cost_models.registry import for_family, register
from supernet.spec import GlueOp, LayerChoice, LayerSpec
from targets.target import Target

FALLBACK = {"clamp": "requant", "affine": "requant"}  # per-element loops the grid may not have produced


BUILT_IN_TABLES = Path(__file__).resolve().parents[1] / "targets" / "devices" / "latency"


def target_table(target: Target) -> LatencyTable:
    """The latency table a Cortex-M target names: params.latency_table, a .toml file (relative to the target's
    TOML file) or the name of a built-in table ("cortex-m4": targets/devices/latency/cortex-m4.toml)."""
    path = target.params.get("latency_table")
    if not isinstance(path, str) or not path:
        raise ValueError(f"target {target.name!r}: params.latency_table (a latency table file) is required")
    if not path.endswith(".toml"):
        if not (BUILT_IN_TABLES / f"{path}.toml").is_file():
            known = ", ".join(sorted(p.stem for p in BUILT_IN_TABLES.glob("*.toml")))
            raise ValueError(f"target {target.name!r}: params.latency_table {path!r} is neither a .toml file nor "
                             f"a built-in table ({known})")  # fmt: skip
        path = str(BUILT_IN_TABLES / f"{path}.toml")
    table = load_table(Path(path))
    core = target.params.get("core")
    if core is not None and core != table.core:
        raise ValueError(f"target {target.name!r}: params.core is {core!r} but {path} was measured on {table.core!r}")
    return table


_FOLDED: dict[int, tuple[LatencyTable, dict]] = {}  # id(table) -> (table, {(kind, fixed counts): folded})


def price(table: LatencyTable, kind: str, call: Call, presence: Tensor | float = 1.0) -> Tensor | float:
    """Instructions of one call of `kind`; per-call features are weighted by `presence`."""
    if kind not in table.kinds and FALLBACK.get(kind) in table.kinds:
        kind = FALLBACK[kind]
    cache = _FOLDED.setdefault(id(table), (table, {}))[1]  # the table is kept alive, so its id stays its own
    key = (kind, call.static_key())
    if key not in cache:
        cache[key] = fold(table.coefficients(kind), call)
    total: Tensor | float = 0.0
    for varying, coefficient, once in cache[key]:
        value: Tensor | float = coefficient
        for symbol in varying:
            value = value * call.symbol(symbol)
        total = total + (value * presence if once else value)
    return total


@dataclass(frozen=True)
class _Layer:
    """What a layer's calls depend on besides the channel counts (computed once per LayerSpec and path)."""

    geometry: dict  # in_hw, out_hw, kernel, stride, pad, dilation (2-D, as the exporter runs it)
    padded: dict  # the same for an explicitly padded input read with padding 0
    out_pixels: int
    kinds: dict  # storage bits -> table kind


@lru_cache(maxsize=1024)
def _layer(spec: LayerSpec, path: str) -> _Layer:
    if spec.kind == "linear":
        one = (1, 1)
        g = {"in_hw": one, "out_hw": one, "kernel": one, "stride": one, "pad": (0, 0), "dilation": one}
    else:
        stride, pad, dilation = spec.geometry()
        g = {"in_hw": two_d(spec.in_spatial, 1), "out_hw": two_d(spec.out_spatial, 1),
             "kernel": two_d(spec.kernel_size, 1), "stride": two_d(stride, 1), "pad": two_d(pad, 0),
             "dilation": two_d(dilation, 1)}  # fmt: skip
    out_pixels = g["out_hw"][0] * g["out_hw"][1]
    kinds = {}
    for storage in (4, 8):
        fn = conv_function(storage, spec.depthwise, g["kernel"], g["stride"], g["pad"], g["dilation"], out_pixels)
        kinds[storage] = conv_kind(fn, g["kernel"], g["pad"], g["dilation"], path, out_pixels)
    (ih, iw), (oh, ow), (kh, kw) = g["in_hw"], g["out_hw"], g["kernel"]
    (sh, sw), (ph, pw), (dh, dw) = g["stride"], g["pad"], g["dilation"]
    hw = (max(ih + ph, (oh - 1) * sh + (kh - 1) * dh + 1), max(iw + pw, (ow - 1) * sw + (kw - 1) * dw + 1))
    return _Layer(g, {**g, "in_hw": hw, "pad": (0, 0)}, out_pixels, kinds)


def layer_instructions(choice: LayerChoice, table: LatencyTable, target: Target) -> Tensor:
    """Instructions of one layer: every precision group's kernel call and copies."""
    spec, probs = choice.spec, theta(choice)
    layer = _layer(spec, table.path)
    channel_mass(choice, target)  # refuses bit-widths the target has no kernel for
    depthwise, out_pixels = spec.depthwise, layer.out_pixels
    groups = [(i, b) for i, b in enumerate(choice.weight_bits) if b > 0]
    present = {i: 1 - torch.prod(1 - probs[i]) for i, _ in groups}
    total = zero([choice])
    c_in = None if depthwise else in_features(choice)
    for i, bits in groups:
        n = probs[i].sum()
        storage = 8 if bits > 4 else 4
        kind = layer.kinds[storage]
        call = conv_call(n, n if depthwise else c_in, **layer.geometry)
        others = 1 - torch.prod(torch.stack([1 - present[j] for j, _ in groups if j != i] or [1 + zero([choice])]))
        copies = price(table, "scatter", call, present[i]) if out_pixels > 1 else 0.0
        if depthwise:
            copies = copies + price(table, "gather", call, present[i])
        cost = price(table, kind, call, present[i]) + others * copies
        if depthwise and storage == 4 and any(layer.geometry["pad"]):
            odd = (torch.remainder(torch.round(n.detach()), 2) == 1).to(F64)
            padded = conv_call(n, n, **layer.padded)
            odd_cost = price(table, kind, padded, present[i]) + price(table, "pad", call, present[i])
            if out_pixels > 1:
                odd_cost = odd_cost + others * price(table, "scatter", call, present[i])
            cost = odd * odd_cost + (1 - odd) * cost
        total = total + cost
    return total


def glue_instructions(op: GlueOp, choices: Sequence[LayerChoice], table: LatencyTable) -> Tensor:
    """Instructions of one network glue op of the deploy plan, from its expected kept channels."""
    kept = kept_out(choices[op.source]) if op.source is not None else torch.tensor(float(op.channels), dtype=F64)
    return zero(choices) + price(table, op.kind, glue_call(kept * op.per_channel, op.per_channel, op.window, op.inputs))


def instructions(choices: Sequence[LayerChoice], table: LatencyTable, target: Target) -> Tensor:
    """Expected retired instructions of one inference of the cmsis-nn export (the table's core)."""
    total = zero(choices)
    for ch in choices:
        total = total + layer_instructions(ch, table, target)
    plan = choices.deploy_plan("cmsis-nn") if hasattr(choices, "deploy_plan") else None
    if plan is not None:
        for op in plan.ops:
            total = total + glue_instructions(op, choices, table)
        total = total + price(table, "network", glue_call(float(choices[-1].spec.out_channels)))
    return total


@register("latency_cortexm", unit="cycles", applies_to=for_family("cortex-m"))
def latency_cortexm(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected cycles of the cmsis-nn export: measured instructions x the core's cycles per instruction."""
    cpi = param(target, "cycles_per_instruction", 0.0)
    if cpi <= 0:
        raise ValueError(f"target {target.name!r}: params.cycles_per_instruction must be a positive number")
    return cpi * instructions(choices, target_table(target), target)
