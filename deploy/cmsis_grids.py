"""Grids of the cmsis-nn flavour: which int8 grid (scale, zero point, range) every tensor lives on.

A grid with levels q in [0, 255] (post-ReLU, 8-bit) is stored as v = q - 128 (zero point -128);
a signed or narrower grid keeps zero point 0. The backward pass gives each node its consumers'
grid, or a grid calibrated on the example batch where no consumer grid describes it (see
cmsis_plan.py for the list).
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.graph import Graph, Node
from deploy.integer import ActGrid, IntLayer
from deploy.plan import clamp_levels


@dataclass(frozen=True)
class Levels:
    """A grid in level space: q in [lo, hi] stands for q * scale (before the zero point)."""

    scale: float
    lo: int
    hi: int

    @classmethod
    def of(cls, grid: ActGrid) -> Levels:
        return cls(grid.scale, grid.lo, grid.hi)

    @property
    def zero_point(self) -> int:
        return -128 if self.hi > 127 else 0

    @property
    def fits_int8(self) -> bool:
        return self.lo + self.zero_point >= -128 and self.hi + self.zero_point <= 127


def storage_bits(bits: int) -> int:
    """Field width of a weight in the CMSIS-NN arrays: s4 for 1..4 bits (no 2-bit kernels), s8 above."""
    return 4 if bits <= 4 else 8


def calibrated(lo_hi: tuple[float, float]) -> Levels:
    """An int8 grid covering a calibrated float range (unsigned 0..255 if it never goes negative)."""
    mn, mx = lo_hi
    if mn >= 0:
        return Levels(max(mx, 1e-8) / 255, 0, 255)
    return Levels(max(-mn, mx, 1e-8) / 127, -127, 127)


def _merge(prefs: list[Levels]) -> Levels | None:
    if len(set(prefs)) == 1:
        return prefs[0]
    if len({p.scale for p in prefs}) == 1:
        merged = Levels(prefs[0].scale, min(p.lo for p in prefs), max(p.hi for p in prefs))
        return merged if merged.fits_int8 else None
    return None


def targets(
    graph: Graph, layers: dict[str, IntLayer], out: Levels, ranges: dict[str, tuple[float, float]]
) -> dict[str, Levels | None]:
    """Backward pass: the grid each node's output should be produced on: its consumers' grid, or the
    calibrated grid of its own range (so a ReLU'd tensor feeding an add is calibrated after the ReLU)."""
    target: dict[str, Levels | None] = {}

    def pref(user: Node) -> Levels | None:
        if user.kind == "layer":
            return Levels.of(layers[user.module].act)
        if user.kind == "output":
            return out
        if user.kind in ("add", "affine"):
            return None  # the add and the per-channel affine rescale any input grid
        t = target[user.name]
        if t is None:
            return None
        if user.kind in ("relu", "clamp"):
            return Levels(t.scale, *clamp_levels(t.lo, t.hi, t.scale, user.attrs))
        return t  # maxpool, avgpool, flatten, concat keep the grid

    for node in reversed(graph.nodes):
        if node.kind == "output":
            continue
        users = graph.users(node.name)
        prefs = [pref(u) for u in users]
        fixed = [p for p in prefs if p is not None]
        merged = _merge(fixed) if fixed else None
        unclipped = len(fixed) < len(prefs) or any(u.kind == "avgpool" for u in users)
        if merged is not None and unclipped and node.name in ranges:
            mn, mx = ranges[node.name]
            if mx > merged.hi * merged.scale or mn < merged.lo * merged.scale:
                merged = None  # an add or a mean reads it: clipping does not commute with them
        if merged is None and node.name in ranges:
            merged = calibrated(ranges[node.name])
        target[node.name] = merged
    return target
