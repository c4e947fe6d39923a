"""Make a discrete architecture fit a budget, and use it: repair in both directions.

argmax of the gates can overshoot a budget that the search approached, or stop well under it.
- shrink: lower one channel to its next cheaper option (possibly 0 = pruned) where the search
  was least sure (smallest logit gap), per unit of cost saved, until the exact cost fits;
- grow: raise one channel to its next dearer option (0 -> the lowest bit-width brings a pruned
  channel back) where the search wanted it most (largest logit gap), while the result still fits.
Neither goes below the minimum of kept channels per group (`min_kept`), nor above the options the
gates allow. Channels of one residual group move together (they share gates).

Each step compares every group's best move by its cost change. The changes come from
search/constraints/pricer.py: for a cost that is a sum over layers, priced on the layers a move touches
and kept per group until a move touches one of them (MobileNetV2 from 2.4 MB to 1 MB: thousands of steps
in seconds, not minutes), else on the whole network per candidate. The result's cost is priced once on
the whole network at the end: that exact figure is the one checked against the budget.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from search.constraints.moves import GroupMoves
from search.constraints.pricer import Layout, Priced, moved, price, pricer
from supernet import Architecture, Supernet
from targets.target import Target

MinKept = Callable[[int], int]
PROGRESS_AFTER_S, PROGRESS_EVERY_S = 3.0, 5.0
log = logging.getLogger("bitgate")


class Progress:
    """One log line every few seconds while a repair runs longer than a few seconds."""

    def __init__(self, what: str, cost: str, budget: float) -> None:
        self.what, self.cost, self.budget = what, cost, budget
        self.t0 = self.last = time.perf_counter()
        self.steps = 0

    def step(self, total: float) -> None:
        self.steps += 1
        now = time.perf_counter()
        if now - self.t0 > PROGRESS_AFTER_S and now - self.last > PROGRESS_EVERY_S:
            self.last = now
            log.info(
                "%s: %s %s towards %s after %s moves, %.0f s",
                self.what,
                self.cost,
                f"{total:,.0f}",
                f"{self.budget:,.0f}",
                f"{self.steps:,}",
                now - self.t0,
            )


def _groups(net: Supernet, layout: Layout, arch: Architecture, direction: int, min_kept: MinKept) -> list[GroupMoves]:
    out = []
    for k, layers in enumerate(layout.groups):
        bits = list(arch.weight_bits[layers[0]])
        out.append(GroupMoves(k, net.layer(layers[0]).gates, bits, direction, min_kept(len(bits))))
    return out


def _result(arch: Architecture, layout: Layout, groups: list[GroupMoves], moved_groups: set[int]) -> Architecture:
    weight_bits = dict(arch.weight_bits)
    for k in moved_groups:
        weight_bits.update(dict.fromkeys(layout.groups[k], tuple(groups[k].bits)))
    return replace(arch, weight_bits=weight_bits)


def _stale(
    cached: dict[int, tuple[float, Priced] | None],
    touched: dict[int, set[int] | None],
    group: int,
    layers: set[int] | None,
) -> None:
    """Forget the moved group's candidate and every candidate whose pricing read a layer the move changed."""
    for k in list(cached):
        if k == group or layers is None or touched.get(k) is None or touched[k] & layers:
            cached.pop(k)


def repair(
    net: Supernet, arch: Architecture, cost: str, target: Target, budget: float, min_kept: MinKept = lambda channels: 1
) -> Architecture:
    """Cheapest-regret greedy descent; raises ValueError if even the smallest architecture is over budget."""
    layout = Layout(net)
    total = price(net, arch, cost, target)
    moved_groups: set[int] = set()
    while total > budget:  # once, unless the incremental total drifted from the exact one (float costs)
        arch = _shrink(net, layout, arch, cost, target, budget, min_kept, moved_groups)
        total = price(net, arch, cost, target)
    return replace(arch, meta={**arch.meta, "repaired_to_budget": budget})


def _shrink(
    net: Supernet,
    layout: Layout,
    arch: Architecture,
    cost: str,
    target: Target,
    budget: float,
    min_kept: MinKept,
    moved_groups: set[int],
) -> Architecture:
    pr = pricer(net, layout, arch, cost, target)
    groups = _groups(net, layout, arch, -1, min_kept)
    cached: dict[int, tuple[float, Priced] | None] = {}
    touched: dict[int, set[int] | None] = {}
    progress = Progress("repair", cost, budget)
    while pr.total > budget:
        fresh = [(k, best) for k in range(len(groups)) if k not in cached for best in [groups[k].best()]]
        for k, best in fresh:
            if best is None:
                cached[k] = None
        todo = [(k, gap, move) for k, best in fresh if best is not None for gap, move in [best]]
        priced = pr.price([(move, tuple(groups[k].bits)) for k, _, move in todo])  # one batched call
        for (k, gap, _), p in zip(todo, priced, strict=True):
            cached[k] = (gap, p)
            touched[k] = set(p.records) if p.records is not None else None
        best = None
        for k in range(len(groups)):  # the lowering regretted least per unit of cost saved; ties: the first group
            if cached[k] is None:
                continue
            gap, p = cached[k]
            saving = -p.delta
            score = -gap / saving if saving > 0 else math.inf
            if best is None or score < best[0]:
                best = (score, k)
        if best is None:
            raise ValueError(f"budget {budget:g} cannot be met: the smallest reachable {cost} is {pr.total:g}")
        k = best[1]
        _, p = cached[k]
        pr.apply(p)
        groups[k].taken()
        moved_groups.add(k)
        _stale(cached, touched, k, touched[k])
        progress.step(pr.total)
    return _result(arch, layout, groups, moved_groups)


def grow(
    net: Supernet, arch: Architecture, cost: str, target: Target, budget: float, also: Sequence[tuple[str, float]] = ()
) -> Architecture:
    """Greedy ascent: raise the most-wanted channel whose next option still fits, until none does.

    Per group the candidates are tried in order of how much the gates wanted them; a move that
    would overshoot is skipped for a smaller one, so the result fills the budget as far as single
    steps allow (it never exceeds it). `also`: other (cost, limit) pairs every move must keep
    (e.g. the RAM limit while filling a Flash budget)."""
    layout = Layout(net)
    main = pricer(net, layout, arch, cost, target)
    others = [(pricer(net, layout, arch, c, target), b) for c, b in also]
    if main.total > budget or any(o.total > b for o, b in others):
        return arch
    start = main.total
    groups = _groups(net, layout, arch, +1, lambda channels: 0)
    cached: dict[int, tuple[float, Priced] | None] = {}
    touched: dict[int, set[int] | None] = {}
    extra: dict[int, list[Priced]] = {}  # the candidate priced under each `also` cost
    moved_groups: set[int] = set()
    progress = Progress("grow", cost, budget)

    def fits(p: Priced, ps: list[Priced]) -> bool:
        return main.total + p.delta <= budget and all(
            o.total + q.delta <= b for (o, b), q in zip(others, ps, strict=True)
        )

    def candidate(k: int) -> tuple[float, Priced] | None:
        """The group's most wanted move that fits now; a move that does not is dropped for good."""
        while True:
            if k in cached:
                if cached[k] is None or fits(cached[k][1], extra[k]):  # totals rose since it was priced
                    return cached[k]
                groups[k].drop()
                cached.pop(k)
            best = groups[k].best()
            if best is None:
                cached[k] = None
                continue
            gap, move = best
            old = tuple(groups[k].bits)
            p, ps = main.price([(move, old)])[0], [o.price([(move, old)])[0] for o, _ in others]
            if not fits(p, ps):
                groups[k].drop()
                continue
            cached[k], extra[k] = (gap, p), ps
            layers = [p.records] + [q.records for q in ps]
            touched[k] = None if any(r is None for r in layers) else set().union(*layers)

    while True:
        best = None
        for k in range(len(groups)):  # the most wanted move across groups; ties: the first group
            c = candidate(k)
            if c is not None and (best is None or c[0] > best[0]):
                best = (c[0], k)
        if best is None:
            break
        k = best[1]
        main.apply(cached[k][1])
        for (o, _), q in zip(others, extra[k], strict=True):
            o.apply(q)
        groups[k].taken()
        moved_groups.add(k)
        _stale(cached, touched, k, touched[k])
        progress.step(main.total)
    if main.total == start:
        return arch
    return replace(_result(arch, layout, groups, moved_groups), meta={**arch.meta, "grown_to_budget": budget})


__all__ = ["MinKept", "grow", "moved", "repair"]
