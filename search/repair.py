"""Make a discrete architecture fit a budget by lowering the least-wanted choices first.

argmax of the gates can overshoot a budget that the expected (soft) cost met. Each step
lowers one channel to its next cheaper option (possibly 0 = pruned) where the search was
least sure (smallest logit gap), per unit of cost saved, until the exact cost fits.
"""

from __future__ import annotations

from dataclasses import replace

import torch

import cost_models
from supernet import Architecture, Supernet
from targets.target import Target


def _cost(net: Supernet, arch: Architecture, cost: str, target: Target) -> float:
    with torch.no_grad():
        return float(cost_models.evaluate(cost, net.layer_choices(arch), target))


def repair(net: Supernet, arch: Architecture, cost: str, target: Target, budget: float) -> Architecture:
    """Cheapest-regret greedy descent; raises ValueError if even the smallest architecture is over budget."""
    by_gates: dict[int, list[str]] = {}
    for name in net.layer_names:
        by_gates.setdefault(id(net.layer(name).gates), []).append(name)
    current = _cost(net, arch, cost, target)
    while current > budget:
        best = None
        for layers in by_gates.values():
            gates = net.layer(layers[0]).gates
            bits = arch.weight_bits[layers[0]]
            alpha = gates.alpha.detach()
            kept = sum(b > 0 for b in bits)
            moves = []
            for c, b in enumerate(bits):
                i = gates.options.index(b) if b in gates.options else 0
                if i == 0 or (gates.options[i - 1] == 0 and kept <= 1):
                    continue
                col = c if alpha.shape[1] > 1 else 0
                moves.append((float(alpha[i, col] - alpha[i - 1, col]), c, gates.options[i - 1]))
            if not moves:
                continue
            gap, c, lower = min(moves)
            per_layer = [c] if alpha.shape[1] > 1 else range(len(bits))
            new_bits = list(bits)
            for k in per_layer:
                new_bits[k] = lower
            trial = replace(arch, weight_bits={**arch.weight_bits, **{n: tuple(new_bits) for n in layers}})
            saving = current - _cost(net, trial, cost, target)
            score = gap / saving if saving > 0 else float("inf")
            if best is None or score < best[0]:
                best = (score, trial, saving)
        if best is None:
            raise ValueError(f"budget {budget:g} cannot be met: the smallest reachable {cost} is {current:g}")
        _, arch, saving = best
        current -= saving
    return replace(arch, meta={**arch.meta, "repaired_to_budget": budget})
