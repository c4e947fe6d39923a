"""Make a discrete architecture fit two limits at once: Flash (weights + metadata) and SRAM.

Flash first, with search.repair on the `memory` cost (lowering bits or pruning, least-wanted
first). Then RAM: only pruning shrinks activation buffers (weight bits do not touch them), so
each step prunes, in one channel group, the kept channel the search wanted least (smallest
logit gap to 0 bits) where that lowers the planned peak the most per unit of regret. Pruning
never raises the Flash need, so the Flash limit still holds. `limits` (cost_models.fit) turns
a config's budgets (or the target's memories) into the two numbers.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from cost_models.fit import FLASH_COST, RAM_COST, check_fit, limits
from search.repair import repair
from supernet import Architecture, Supernet
from targets.target import Target


def _ram(net: Supernet, arch: Architecture, target: Target) -> float:
    return check_fit(net.layer_choices(arch), target).ram_bytes


def repair_ram(net: Supernet, arch: Architecture, target: Target, ram_budget: float) -> Architecture:
    """Prune least-wanted channels until the planned peak activation RAM is <= ram_budget."""
    groups: dict[int, list[str]] = {}
    for name in net.layer_names:
        gates = net.layer(name).gates
        if 0 in gates.options and gates.alpha.shape[1] > 1:
            groups.setdefault(id(gates), []).append(name)
    current = _ram(net, arch, target)
    while current > ram_budget:
        best = None
        for layers in groups.values():
            gates, bits = net.layer(layers[0]).gates, arch.weight_bits[layers[0]]
            kept = [c for c, b in enumerate(bits) if b > 0]
            if len(kept) <= 1:
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
        if best is None:
            raise ValueError(f"ram_budget {ram_budget:g} B cannot be met by pruning: the smallest reachable peak "
                             f"activation RAM is {current:g} B")  # fmt: skip
        _, arch, saving = best
        current -= saving
    return replace(arch, meta={**arch.meta, "repaired_to_ram": ram_budget})


@torch.no_grad()
def repair_to_fit(
    net: Supernet, arch: Architecture, target: Target, flash_budget: float | None, ram_budget: float | None
) -> Architecture:
    """`arch` lowered until it fits both limits (the budgets, else the target's Flash and SRAM)."""
    flash, ram = limits(target, flash_budget, ram_budget)
    arch = repair(net, arch, FLASH_COST, target, flash)
    arch = repair_ram(net, arch, target, ram)
    fit = check_fit(net.layer_choices(arch), target, flash, ram)
    if not fit.fits:  # cannot happen unless a cost model is not monotone in pruning
        raise ValueError(f"repair left the architecture over a limit: {fit.summary()}")
    return arch


__all__ = ["RAM_COST", "repair_ram", "repair_to_fit"]
