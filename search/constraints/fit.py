"""Make a discrete architecture fit two limits at once: Flash (weights + metadata) and SRAM.

Flash first, with search.constraints.repair on the `memory` cost (lowering bits or pruning, least-wanted
first). Then RAM: only pruning shrinks activation buffers (weight bits do not touch them), so
each step prunes, in one channel group, the kept channel the search wanted least (smallest
logit gap to 0 bits) where that lowers the planned peak the most per unit of regret. Pruning
never raises the Flash need, so the Flash limit still holds. `limits` (cost_models.fit) turns
a config's budgets (or the target's memories) into the two numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from cost_models.fit import FLASH_COST, RAM_COST, check_fit, limits
from search.constraints.limits import Limit
from search.constraints.repair import MinKept, Progress, grow, repair
from search.pricing import layer_choices
from supernet import Architecture, Supernet
from targets.target import Target


def _ram(net: Supernet, arch: Architecture, target: Target) -> float:
    return check_fit(layer_choices(net, arch), target).ram_bytes


def repair_ram(
    net: Supernet, arch: Architecture, target: Target, ram_budget: float, min_kept: MinKept = lambda channels: 1
) -> Architecture:
    """Prune least-wanted channels until the planned peak activation RAM is <= ram_budget (never below
    `min_kept` channels in a group), then, if still over, lower activation widths: any budget at or above
    the floor priced before training (fewest channels, lowest widths) is met."""
    groups: dict[int, list[str]] = {}
    for name in net.layer_names:
        gates = net.layer(name).gates
        if 0 in gates.options and gates.alpha.shape[1] > 1:
            groups.setdefault(id(gates), []).append(name)
    current = _ram(net, arch, target)
    progress = Progress("RAM repair", RAM_COST, ram_budget)  # the planned peak is priced on the whole network
    while current > ram_budget:
        best, flat = None, None  # flat: the least wanted channel of a move that leaves the peak where it is
        for layers in groups.values():
            gates, bits = net.layer(layers[0]).gates, arch.weight_bits[layers[0]]
            kept = [c for c, b in enumerate(bits) if b > 0]
            if len(kept) <= max(1, min_kept(len(bits))):
                continue
            alpha = gates.alpha.detach()
            zero = gates.options.index(0)
            c = min(kept, key=lambda k: float(alpha[gates.options.index(bits[k]), k] - alpha[zero, k]))
            gap = float(alpha[gates.options.index(bits[c]), c] - alpha[zero, c])
            new = {n: tuple(0 if k == c else b for k, b in enumerate(arch.weight_bits[n])) for n in layers}
            trial = replace(arch, weight_bits={**arch.weight_bits, **new})
            saving = current - _ram(net, trial, target)
            if saving > 0 and (best is None or gap / saving < best[0]):
                best = (gap / saving, trial, saving)
            elif saving == 0 and (flat is None or gap < flat[0]):
                flat = (gap, trial, 0.0)
        # On a plateau (the peak is set by two buffers at once, so no single channel lowers it) prune the least
        # wanted channel anyway: every step removes a channel, so the walk ends at the groups' minimum, whose
        # peak is the floor the up-front check priced (search/constraints/viability.py).
        if best is None:
            best = flat if flat is not None else _lower_activations(net, arch, target, current)
        if best is None:
            raise ValueError(
                f"ram_budget {ram_budget:g} B cannot be met by pruning: the smallest reachable peak "
                f"activation RAM is {current:g} B"
            )
        _, arch, saving = best
        current -= saving
        progress.step(current)
    return replace(arch, meta={**arch.meta, "repaired_to_ram": ram_budget})


def _lower_activations(
    net: Supernet, arch: Architecture, target: Target, current: float
) -> tuple[float, Architecture, float] | None:
    """Once every group is at its fewest channels: one layer's input activations one option lower (the one
    that saves the most RAM), so the walk can reach the floor priced at the lowest activation widths."""
    best = None
    for name in net.layer_names:
        lower = [a for a in net.layer(name).act.options if a < arch.act_bits[name]]
        if not lower:
            continue
        trial = replace(arch, act_bits={**arch.act_bits, name: max(lower)})
        saving = current - _ram(net, trial, target)
        if saving >= 0 and (best is None or saving > best[2]):
            best = (0.0, trial, saving)
    return best


@torch.no_grad()
def repair_to_fit(
    net: Supernet, arch: Architecture, target: Target, flash_budget: float | None, ram_budget: float | None
) -> Architecture:
    """`arch` lowered until it fits both limits (the budgets, else the target's Flash and SRAM)."""
    flash, ram = limits(target, flash_budget, ram_budget)
    arch = fit_limits(net, arch, target, (Limit(FLASH_COST, flash, "fit_target"), Limit(RAM_COST, ram, "fit_target")))
    fit = check_fit(layer_choices(net, arch), target, flash, ram)
    if not fit.fits:  # cannot happen unless a cost model is not monotone in pruning
        raise ValueError(f"repair left the architecture over a limit: {fit.summary()}")
    return arch


def fit_limits(
    net: Supernet, arch: Architecture, target: Target, limits: Sequence[Limit], min_kept: MinKept = lambda channels: 1
) -> Architecture:
    """Repair in both directions against every limit: shrink until each holds (RAM by pruning,
    others by lowering bits or pruning), then, when the first limit is a `budget` (the run's own
    cost), grow towards it while all still hold. Limits alone (fit_target, ram_budget with a
    fixed strength) only shrink: growing to the device's memory would undo the trade-off.

    Shrinking for one limit never raises a memory cost, but a latency model may price fewer bits
    dearer (unpacking), so the shrink pass repeats until a pass changes nothing."""
    for _ in range(len(limits) + 1):
        before = arch.weight_bits
        for limit in limits:
            if limit.cost == RAM_COST:
                arch = repair_ram(net, arch, target, limit.budget, min_kept)
            else:
                arch = repair(net, arch, limit.cost, target, limit.budget, min_kept)
        if arch.weight_bits == before:
            break
    if not limits or limits[0].source != "budget":
        return arch
    first, rest = limits[0], [(limit.cost, limit.budget) for limit in limits[1:]]
    return grow(net, arch, first.cost, target, first.budget, also=rest)


__all__ = ["RAM_COST", "fit_limits", "repair_ram", "repair_to_fit"]
