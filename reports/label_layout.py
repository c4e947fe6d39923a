"""Where each point's label goes: beside its marker, over no other label and no marker.

Shared by the PNG plots (sizes from matplotlib's own text extents, in pixels) and the report's SVG
(sizes from an estimate of the text's width). Coordinates are pixels with y pointing down.

Greedy and deterministic: labels are placed in the order given (callers put the highlighted point
first, then front points, most accurate first, then dominated ones), each at the first free spot
among candidates on rings of growing distance around its marker: right, left, then round the clock.
A spot must stay inside the plot area and overlap no marker, no label placed before it and no
obstacle (a budget line's caption); within the first two rings a spot that crosses no front line is
preferred. A label that ends up away from its marker is drawn with a leader line. When the rings
find nothing (a very crowded panel) the area is scanned for the free spot nearest the marker; only
if there is none at all does a label overlap, as little as it can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

# Round the clock, in the order tried: beside the marker (text reads on from it), then above and
# below it, then straight over and under (y points down: negative angles are above).
ANGLES = (0.0, 180.0, -22.5, 22.5, -157.5, 157.5, -45.0, 45.0, -135.0, 135.0, -67.5, 67.5, -112.5, 112.5, -90.0, 90.0)
RINGS = 12  # candidate distances: the marker's edge, then one label height further each time
LINE_FREE_RINGS = 2  # how far a label may move to avoid crossing a front line


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def overlap_area(self, other: Box) -> float:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(w, 0.0) * max(h, 0.0)

    def inside(self, area: Box) -> bool:
        return area.x0 <= self.x0 and self.x1 <= area.x1 and area.y0 <= self.y0 and self.y1 <= area.y1

    def distance_to(self, x: float, y: float) -> float:
        """From a point to the nearest point of the box (0 inside it)."""
        dx = max(self.x0 - x, 0.0, x - self.x1)
        dy = max(self.y0 - y, 0.0, y - self.y1)
        return math.hypot(dx, dy)

    def nearest_point(self, x: float, y: float) -> tuple[float, float]:
        return min(max(x, self.x0), self.x1), min(max(y, self.y0), self.y1)

    def crosses(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """Whether the segment a-b passes through the box (Liang-Barsky clipping)."""
        (ax, ay), (bx, by) = a, b
        t0, t1 = 0.0, 1.0
        for p, q in (
            (ax - bx, ax - self.x0),
            (bx - ax, self.x1 - ax),
            (ay - by, ay - self.y0),
            (by - ay, self.y1 - ay),
        ):
            if p == 0:
                if q < 0:
                    return False
                continue
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
        return True


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    r: float  # what a label must keep clear of: the marker's radius plus a little air

    def hits(self, box: Box) -> bool:
        return box.distance_to(self.x, self.y) < self.r


@dataclass(frozen=True)
class Placed:
    box: Box
    leader: bool  # away from its marker: draw a line from the marker to the box


def _candidate(x: float, y: float, d: float, angle: float, w: float, h: float) -> Box:
    """The w x h box whose nearest side sits at distance d from (x, y) in direction `angle` (degrees)."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    px, py = x + d * c, y + d * s
    x0 = px if c > 0.3 else px - w if c < -0.3 else px - w / 2
    y0 = py if s > 0.3 else py - h if s < -0.3 else py - h / 2
    return Box(x0, y0, x0 + w, y0 + h)


def place(
    anchors: Sequence[tuple[float, float, float]],
    sizes: Sequence[tuple[float, float]],
    area: Box,
    markers: Sequence[Marker] = (),
    obstacles: Sequence[Box] = (),
    lines: Sequence[tuple[tuple[float, float], tuple[float, float]]] = (),
    gap: float = 2.0,
) -> list[Placed]:
    """One placement per label. anchors: (x, y, r) of the marker each label belongs to; sizes: (w, h)
    of each label; markers: every marker drawn (the anchors' own included); obstacles: boxes no label
    may cover; lines: front segments a label should not cross."""
    placed: list[Box] = []
    out: list[Placed] = []
    for (x, y, r), (w, h) in zip(anchors, sizes, strict=True):
        free = partial(_free, area=area, markers=markers, blocked=(*placed, *obstacles))
        first, step = r + gap, max(h, 6.0)
        box = _on_rings(x, y, w, h, first, step, free, lines) or _scan(x, y, w, h, area, free)
        box = box or _least_overlap(x, y, w, h, area, markers, (*placed, *obstacles))
        placed.append(box)
        out.append(Placed(box, leader=box.distance_to(x, y) > first + 1.5 * step))
    return out


def _free(box: Box, area: Box, markers: Sequence[Marker], blocked: Sequence[Box]) -> bool:
    return box.inside(area) and not any(m.hits(box) for m in markers) and not any(box.overlaps(b) for b in blocked)


def _on_rings(x, y, w, h, first: float, step: float, free, lines) -> Box | None:
    """The first free candidate, ring by ring; in the first LINE_FREE_RINGS rings one that crosses no line wins."""
    fallback: Box | None = None
    for ring in range(RINGS):
        for angle in ANGLES:
            box = _candidate(x, y, first + ring * step, angle, w, h)
            if not free(box):
                continue
            if ring < LINE_FREE_RINGS and not any(box.crosses(a, b) for a, b in lines):
                return box
            fallback = fallback or box
        if fallback is not None and ring >= LINE_FREE_RINGS - 1:
            return fallback
    return fallback


def _scan(x: float, y: float, w: float, h: float, area: Box, free) -> Box | None:
    """The free spot nearest (x, y) on a grid over the whole area (steps of half a label height)."""
    step = max(h / 2, 3.0)
    best: tuple[float, Box] | None = None
    ny, nx = int((area.height - h) / step) + 1, int((area.width - w) / step) + 1
    for j in range(max(ny, 0)):
        for i in range(max(nx, 0)):
            box = Box(area.x0 + i * step, area.y0 + j * step, area.x0 + i * step + w, area.y0 + j * step + h)
            d = box.distance_to(x, y)
            if (best is None or d < best[0]) and free(box):
                best = (d, box)
    return best[1] if best else None


def _least_overlap(x, y, w, h, area: Box, markers: Sequence[Marker], blocked: Sequence[Box]) -> Box:
    """Nowhere is free: the ring-one spot (clamped into the area) that covers the least."""

    def cover(box: Box) -> float:
        return sum(box.overlap_area(b) for b in blocked) + sum(h * w for m in markers if m.hits(box))

    boxes = []
    for angle in ANGLES:
        b = _candidate(x, y, 4.0, angle, w, h)
        dx = min(max(b.x0, area.x0), area.x1 - w) - b.x0
        dy = min(max(b.y0, area.y0), area.y1 - h) - b.y0
        boxes.append(Box(b.x0 + dx, b.y0 + dy, b.x1 + dx, b.y1 + dy))
    return min(boxes, key=cover)  # min keeps the first of equals: deterministic


def any_overlap(boxes: Sequence[Box], markers: Sequence[Marker] = ()) -> list[str]:
    """What overlaps what, for tests and checks: pairs of labels, and labels over markers."""
    found = [f"label {i} and label {j}" for i, a in enumerate(boxes) for j, b in enumerate(boxes[:i]) if a.overlaps(b)]
    found += [f"label {i} over marker {k}" for i, a in enumerate(boxes) for k, m in enumerate(markers) if m.hits(a)]
    return found


def pick_spot(
    candidates: Sequence[Box],
    markers: Sequence[Marker],
    lines: Sequence[tuple[tuple[float, float], tuple[float, float]]] = (),
) -> int:
    """Which of a caption's candidate spots to use (a budget line's: left or right of it, top or bottom):
    the first over no marker and across no front line, else over no marker, else the first."""

    def score(k: int) -> tuple[bool, bool, int]:
        box = candidates[k]
        return any(m.hits(box) for m in markers), any(box.crosses(a, b) for a, b in lines), k

    return min(range(len(candidates)), key=score)
