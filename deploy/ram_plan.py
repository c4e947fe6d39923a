"""Static RAM plan of the generated C: where every activation tensor lives in one arena.

A tensor is alive from the op that writes it to the last op that reads it (the network output
until the end). Tensors are placed one after the other at the lowest 4-byte aligned offset that
overlaps no placed tensor alive at the same time (greedy first fit, as TFLM's planner does, in a few
orders; the smallest arena wins). The largest sum of sizes alive at one op is a lower bound.
An op's output never shares bytes with its inputs (the kernels do not work in place), except a view
(the reference flavour's flatten), which is its input's bytes under another shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ALIGN = 4


@dataclass(frozen=True)
class RamPlan:
    offsets: dict[int, int]  # tensor id -> byte offset in the arena
    arena_bytes: int  # activation tensors only
    peak_live_bytes: int  # largest sum of sizes alive at one op (a lower bound of arena_bytes)


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _first_fit_in_order(
    order: list[int], sizes: dict[int, int], birth: dict[int, int], death: dict[int, int]
) -> tuple[dict[int, int], int]:
    placed: list[tuple[int, int, int]] = []  # (offset, size, id)
    offsets: dict[int, int] = {}
    for t in order:
        size = _align(sizes[t])
        busy = sorted((o, s) for o, s, u in placed if not (death[u] < birth[t] or death[t] < birth[u]))
        offset = 0
        for o, s in busy:
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        offsets[t] = offset
        placed.append((offset, size, t))
    return offsets, max((o + s for o, s, _ in placed), default=0)


# orders tried, best arena kept (ties: the first): largest first (TFLM's greedy), longest-lived first,
# largest size x lifetime first, in execution order
ORDERS = (
    lambda t, s, b, d: (-s[t], b[t]),
    lambda t, s, b, d: (-(d[t] - b[t]), -s[t], b[t]),
    lambda t, s, b, d: (-s[t] * (d[t] - b[t] + 1), b[t]),
    lambda t, s, b, d: (b[t], -s[t]),
)


def first_fit(sizes: dict[int, int], birth: dict[int, int], death: dict[int, int]) -> tuple[dict[int, int], int]:
    """(offset per tensor, arena bytes): tensors placed one after the other at the lowest aligned offset
    that overlaps no placed tensor alive at the same time (alive from birth to death, both inclusive);
    several placement orders are tried and the smallest arena is kept (first-fit in one order alone
    fragments: ResNet-8's arena came out 8% above its largest live sum)."""
    best: tuple[dict[int, int], int] | None = None
    for key in ORDERS:
        order = sorted(sizes, key=lambda t: key(t, sizes, birth, death))
        result = _first_fit_in_order(order, sizes, birth, death)
        if best is None or result[1] < best[1]:
            best = result
    return best if best is not None else ({}, 0)


def plan_ram(
    sizes: dict[int, int],
    ops: Sequence[tuple[Sequence[int], int]],
    external: set[int],
    final: int,
    initial: Sequence[int] = (),
    views: dict[int, int] | None = None,
) -> RamPlan:
    """sizes: bytes per tensor id; ops: (input ids, output id) in execution order; external: tensors
    not in the arena (the caller's input); final: the output tensor id, alive to the end; initial:
    tensors in the arena before the first op (an input copied in); views: tensor -> the tensor whose
    bytes it is (a flatten), placed at the same offset and keeping that tensor alive while it is read."""
    views = views or {}

    def base(t: int) -> int:
        while t in views:
            t = views[t]
        return t

    birth: dict[int, int] = {t: 0 for t in initial}
    death: dict[int, int] = {t: 0 for t in initial}
    for i, (ins, out) in enumerate(ops):
        if out not in views:
            birth.setdefault(out, i)
            death[out] = max(death.get(out, i), i)
        for t in ins:
            death[base(t)] = i
    death[base(final)] = len(ops)
    live = [t for t in birth if t not in external]
    offsets, arena = first_fit({t: sizes[t] for t in live}, birth, death)
    for t in views:
        if base(t) in offsets:
            offsets[t] = offsets[base(t)]
    peak = max((sum(_align(sizes[t]) for t in live if birth[t] <= i <= death[t]) for i in range(len(ops))), default=0)
    return RamPlan(offsets, arena, peak)
