"""Make a discrete architecture fit a budget, and use it: repair in both directions.

argmax of the gates can overshoot a budget that the search approached, or stop well under it.
- shrink: lower one channel to its next cheaper option (possibly 0 = pruned) where the search
  was least sure (smallest logit gap), per unit of cost saved, until the exact cost fits;
- grow: raise one channel to its next dearer option (0 -> the lowest bit-width brings a pruned
  channel back) where the search wanted it most (largest logit gap), while the result still fits.
Neither goes below the minimum of kept channels per group (`min_kept`), nor above the options the
gates allow. Channels of one residual group move together (they share gates).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

import cost_models
from search.pricing import layer_choices
from supernet import Architecture, ChannelGates, Supernet
from targets.target import Target

MinKept = Callable[[int], int]


def _cost(net: Supernet, arch: Architecture, cost: str, target: Target) -> float:
    with torch.no_grad():
        return float(cost_models.evaluate(cost, layer_choices(net, arch), target))


def _groups(net: Supernet) -> list[list[str]]:
    by_gates: dict[int, list[str]] = {}
    for name in net.layer_names:
        by_gates.setdefault(id(net.layer(name).gates), []).append(name)
    return list(by_gates.values())


def _move(arch: Architecture, layers: list[str], channels: list[int], bits: int) -> Architecture:
    new = list(arch.weight_bits[layers[0]])
    for c in channels:
        new[c] = bits
    return replace(arch, weight_bits={**arch.weight_bits, **{n: tuple(new) for n in layers}})


def _moves(gates: ChannelGates, bits: tuple[int, ...], direction: int, min_kept: int) -> list[tuple[float, int, int]]:
    """(logit gap, channel, new bits) of every one-step move; gap = alpha[new] - alpha[current]."""
    alpha = gates.logits().detach()
    allowed = gates.allowed
    kept = sum(b > 0 for b in bits)
    out = []
    for c, b in enumerate(bits):
        col = c if alpha.shape[1] > 1 else 0
        i = gates.options.index(b) if b in gates.options else 0
        j = i + direction
        while 0 <= j < len(gates.options) and not bool(allowed[j, col]):  # skip masked options
            j += direction
        if not 0 <= j < len(gates.options):
            continue
        if gates.options[j] == 0 and kept <= min_kept:
            continue
        out.append((float(alpha[j, col] - alpha[i, col]), c, gates.options[j]))
    return out


def repair(net: Supernet, arch: Architecture, cost: str, target: Target, budget: float,
           min_kept: MinKept = lambda channels: 1) -> Architecture:  # fmt: skip
    """Cheapest-regret greedy descent; raises ValueError if even the smallest architecture is over budget."""
    current = _cost(net, arch, cost, target)
    while current > budget:
        best = None
        for layers in _groups(net):
            gates = net.layer(layers[0]).gates
            bits = arch.weight_bits[layers[0]]
            moves = _moves(gates, bits, -1, min_kept(len(bits)))
            if not moves:
                continue
            gap, c, lower = max(moves)  # the lowering the gates regret least
            channels = [c] if gates.channels > 1 else list(range(len(bits)))
            trial = _move(arch, layers, channels, lower)
            saving = current - _cost(net, trial, cost, target)
            score = -gap / saving if saving > 0 else float("inf")
            if best is None or score < best[0]:
                best = (score, trial, saving)
        if best is None:
            raise ValueError(f"budget {budget:g} cannot be met: the smallest reachable {cost} is {current:g}")
        _, arch, saving = best
        current -= saving
    return replace(arch, meta={**arch.meta, "repaired_to_budget": budget})


def grow(net: Supernet, arch: Architecture, cost: str, target: Target, budget: float,
         also: Sequence[tuple[str, float]] = ()) -> Architecture:  # fmt: skip
    """Greedy ascent: raise the most-wanted channel whose next option still fits, until none does.

    Per group the candidates are tried in order of how much the gates wanted them; a move that
    would overshoot is skipped for a smaller one, so the result fills the budget as far as single
    steps allow (it never exceeds it). `also`: other (cost, limit) pairs every move must keep
    (e.g. the RAM limit while filling a Flash budget)."""
    current = _cost(net, arch, cost, target)
    if current > budget or any(_cost(net, arch, c, target) > b for c, b in also):
        return arch
    start = current
    blocked: set[tuple[int, int, int]] = set()  # (group, channel, bits) that did not fit
    while True:
        best = None
        for g, layers in enumerate(_groups(net)):
            gates = net.layer(layers[0]).gates
            bits = arch.weight_bits[layers[0]]
            for gap, c, higher in sorted(_moves(gates, bits, +1, 0), reverse=True):
                if (g, c, higher) in blocked:
                    continue
                channels = [c] if gates.channels > 1 else list(range(len(bits)))
                trial = _move(arch, layers, channels, higher)
                added = _cost(net, trial, cost, target) - current
                if current + added > budget or any(_cost(net, trial, c2, target) > b for c2, b in also):
                    blocked.add((g, c, higher))
                    continue
                if best is None or gap > best[0]:
                    best = (gap, trial, added)
                break  # the group's most-wanted move that fits
        if best is None:
            break
        _, arch, added = best
        current += added
    if current == start:
        return arch
    return replace(arch, meta={**arch.meta, "grown_to_budget": budget})
