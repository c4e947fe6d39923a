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

One batched computation, whatever the depth (a search step pays a few hundred tensor operations for it, not
thousands): every (layer, weight option) pair's counts are columns of cost_models/stacked.py's per-layer rows,
their loop-count products one (L, O, V) tensor, and the table's coefficients, folded once per structure with
each call's fixed counts (cost_models/cortexm_rows.py), weigh them in one product; the glue ops likewise
over the plan's ops. Nothing is read back to the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from cost_models.common import F64, param, zero
from cost_models.cortexm_features import counted
from cost_models.cortexm_rows import conv_rows, glue_rows
from cost_models.cortexm_table import LatencyTable, load_table
from cost_models.registry import for_family, register
from cost_models.stacked import refuse_unstorable, stack
from supernet.spec import LayerChoice
from targets.target import Target

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
            raise ValueError(
                f"target {target.name!r}: params.latency_table {path!r} is neither a .toml file nor "
                f"a built-in table ({known})"
            )
        path = str(BUILT_IN_TABLES / f"{path}.toml")
    table = load_table(Path(path))
    core = target.params.get("core")
    if core is not None and core != table.core:
        raise ValueError(f"target {target.name!r}: params.core is {core!r} but {path} was measured on {table.core!r}")
    return table


def product_values(products: tuple[tuple[str, ...], ...], bases: dict[str, Tensor]) -> Tensor:
    """(..., V): each product of counted symbols (cortexm_features.counted) on the base counts' shape."""
    symbols: dict[str, Tensor] = {}
    columns = []
    for product in products:
        value = None
        for name in product:
            if name not in symbols:
                symbols[name] = counted(bases[name[0]], name)
            value = symbols[name] if value is None else value * symbols[name]
        columns.append(value)
    like = next(iter(bases.values()))
    if not columns:  # no op to price (a few layers' records whose channels no glue op carries)
        return like.new_zeros((*like.shape, 0))
    return torch.stack([torch.ones_like(like) if v is None else v for v in columns], -1)


def call_instructions(choices: Sequence[LayerChoice], table: LatencyTable, target: Target) -> Tensor:
    """(L,) instructions of each layer's precision groups: their kernel calls and copies, all layers at once."""
    s = stack(choices)
    refuse_unstorable(s, tuple(target.storage_bits), target.name)
    rows = conv_rows(s.geometry, table)
    n = s.mass[:, rows.options]  # (L, O') expected channels of each group
    present = s.presence()[:, rows.options]  # the probability that its call happens
    c = torch.where(rows.depthwise, n, s.in_features.unsqueeze(1))
    values = product_values(rows.products, {"n": n, "c": c, "K": c * rows.taps})
    values = values * torch.where(rows.once, present.unsqueeze(-1), 1.0)
    own, copies, *odd_roles = (rows.coef * values).sum(-1).unbind(0)
    others = 1 - torch.where(rows.others, (1 - present).unsqueeze(1), 1.0).prod(-1)  # another group is called
    cost = own + others * copies
    if rows.odd_padded is not None:
        odd_own, odd_copies = odd_roles
        odd = (torch.remainder(torch.round(n.detach()), 2) == 1).to(F64)
        odd_cost = odd_own + others * odd_copies
        cost = torch.where(rows.odd_padded, odd * odd_cost + (1 - odd) * cost, cost)
    return cost.sum(1)


def glue_instructions(choices: Sequence[LayerChoice], table: LatencyTable) -> tuple[Tensor, float]:
    """(L,) instructions of the deploy plan's glue ops carrying each layer's kept channels, and those of the
    ops no choice changes (all channels kept; bg_infer itself). Without a plan: nothing."""
    plan = choices.deploy_plan("cmsis-nn") if hasattr(choices, "deploy_plan") else None
    s = stack(choices)
    if plan is None:
        return s.kept_out.new_zeros(len(choices)), 0.0
    rows = glue_rows(plan.ops, table, len(choices), s.kept_out.device)
    elements = (rows.carried @ s.kept_out) * rows.per_channel
    channels = elements / rows.per_channel
    values = product_values(rows.products, {"E": elements, "c": channels, "K": channels})
    return (rows.coef * values).sum(-1) @ rows.carried, rows.fixed


def instruction_parts(choices: Sequence[LayerChoice], table: LatencyTable, target: Target) -> tuple[Tensor, float]:
    """(L,) each layer's calls and copies plus the glue ops carrying its kept channels, and the instructions no
    choice changes. A term depends on its layer's record alone, so a change to a few layers is priced on those
    (the budget repair, search/constraints/pricer.py)."""
    if not choices:
        return zero(choices).new_zeros(0), 0.0
    glue, fixed = glue_instructions(choices, table)
    return call_instructions(choices, table, target) + glue, fixed


def instructions(choices: Sequence[LayerChoice], table: LatencyTable, target: Target) -> Tensor:
    """Expected retired instructions of one inference of the cmsis-nn export (the table's core)."""
    terms, fixed = instruction_parts(choices, table, target)
    return terms.sum() + fixed


def _cpi(target: Target) -> float:
    cpi = param(target, "cycles_per_instruction", 0.0)
    if cpi <= 0:
        raise ValueError(f"target {target.name!r}: params.cycles_per_instruction must be a positive number")
    return cpi


def latency_cortexm_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Cycles per layer: its calls and copies and the glue ops carrying its channels (the total adds bg_infer and
    the glue on channels nobody prunes)."""
    return _cpi(target) * instruction_parts(choices, target_table(target), target)[0]


@register("latency_cortexm", unit="cycles", applies_to=for_family("cortex-m"), terms=latency_cortexm_terms)
def latency_cortexm(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected cycles of the cmsis-nn export: measured instructions x the core's cycles per instruction."""
    return _cpi(target) * instructions(choices, target_table(target), target)
