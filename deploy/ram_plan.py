"""Static RAM plan of the generated C: where every activation tensor lives in one arena.

A tensor is alive from the op that writes it to the last op that reads it (the network output
until the end). Tensors are placed largest first at the lowest 4-byte aligned offset that
overlaps no placed tensor alive at the same time (greedy first fit, as TFLM's planner does).
An op's output never shares bytes with its inputs (the kernels do not work in place).
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


def plan_ram(sizes: dict[int, int], ops: Sequence[tuple[Sequence[int], int]], external: set[int],
             final: int, initial: Sequence[int] = ()) -> RamPlan:  # fmt: skip
    """sizes: bytes per tensor id; ops: (input ids, output id) in execution order; external: tensors
    not in the arena (the caller's input); final: the output tensor id, alive to the end; initial:
    tensors in the arena before the first op (an input copied in)."""
    birth: dict[int, int] = {t: 0 for t in initial}
    death: dict[int, int] = {t: 0 for t in initial}
    for i, (ins, out) in enumerate(ops):
        birth.setdefault(out, i)
        death[out] = max(death.get(out, i), i)
        for t in ins:
            death[t] = i
    death[final] = len(ops)
    live = [t for t in birth if t not in external]
    placed: list[tuple[int, int, int]] = []  # (offset, size, id)
    offsets: dict[int, int] = {}
    for t in sorted(live, key=lambda t: (-sizes[t], birth[t])):
        size = _align(sizes[t])
        busy = sorted((o, s) for o, s, u in placed if not (death[u] < birth[t] or death[t] < birth[u]))
        offset = 0
        for o, s in busy:
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        offsets[t] = offset
        placed.append((offset, size, t))
    arena = max((o + s for o, s, _ in placed), default=0)
    peak = max((sum(_align(sizes[t]) for t in live if birth[t] <= i <= death[t]) for i in range(len(ops))),
               default=0)  # fmt: skip
    return RamPlan(offsets, arena, peak)
