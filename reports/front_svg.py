"""A Pareto front as inline SVG: every point a labelled circle that the report's script can highlight.

Hand-written SVG instead of a plotting library: the report must open offline, and a few dozen
circles need no 3.5 MB bundle. Tick positions come from matplotlib's locators (no drawing).
Each point is `<g class="pt" data-i="INDEX">` with a `<title>` (the browser's own tooltip), so
hovering says which run it is even with scripts disabled.
"""

from __future__ import annotations

import math
from html import escape

from matplotlib import ticker

from reports.plot_style import method_style
from reports.points import Point, unit

W, H = 600, 360
LEFT, RIGHT, TOP, BOTTOM = 62, 16, 14, 46


def method_colours(points: list[Point]) -> dict[str, str]:
    """One colour per method: the fixed per-method colour of every bitgate plot (reports.plot_style)."""
    return {m: method_style(m)[0] for m in dict.fromkeys(p.method for p in points)}


def _fmt(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:,.0f}" if v >= 10 else f"{v:g}"


class _Axis:
    """Maps data to pixels, linear or log (log when the values span more than 10x)."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float, log: bool) -> None:
        self.log = log and lo > 0
        if self.log:
            lo, hi = lo / 1.25, hi * 1.25
        else:
            pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
            lo, hi = lo - pad, hi + pad
        self.lo, self.hi, self.p0, self.p1 = lo, hi, p0, p1

    def __call__(self, v: float) -> float:
        f = (math.log(v) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo)) if self.log else (
            (v - self.lo) / (self.hi - self.lo))  # fmt: skip
        return self.p0 + f * (self.p1 - self.p0)

    def ticks(self) -> list[float]:
        loc = ticker.LogLocator(subs=(1.0, 2.0, 5.0)) if self.log else ticker.MaxNLocator(6)
        return [t for t in loc.tick_values(self.lo, self.hi) if self.lo <= t <= self.hi]


def _place_labels(items: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """(x, y, text-anchor) of each label: right of its point (left near the right edge), nudged
    down/up until it overlaps no label placed before it."""
    placed: list[tuple[float, float, float]] = []  # (left edge, baseline, width)
    out = []
    for x, y, text in items:
        w = 6.0 * len(text)
        left = x + 7 if x + 7 + w < W - RIGHT else x - 7 - w
        for dy in (4, 15, -8, 26, -19, 37, -30):
            if all(abs(y + dy - py) > 11 or left > px + pw or left + w < px for px, py, pw in placed):
                break
        placed.append((left, y + dy, w))
        out.append((x + 7, y + dy, "start") if left > x else (x - 7, y + dy, "end"))
    return out


def front_svg(points: list[Point], cost: str, target: str, colours: dict[str, str]) -> str:
    """One panel: test accuracy against `cost` for the points on `target`, fronts drawn as lines."""
    pts = [p for p in points if p.target == target and cost in p.costs]
    xs, ys = [p.costs[cost] for p in pts], [100 * p.test_acc for p in pts]
    positive = [x for x in xs if x > 0]
    ax = _Axis(min(xs), max(xs), LEFT, W - RIGHT, bool(positive) and max(xs) / max(min(positive), 1e-12) > 10)
    ay = _Axis(min(ys), max(ys), H - BOTTOM, TOP, False)
    out = [f'<svg class="front" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-label="test accuracy against {escape(cost)} on {escape(target)}">',
           f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
           'class="frame"/>']  # fmt: skip
    for t in ax.ticks():
        x = ax(t)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{H - BOTTOM + 15}" class="tick" '
                   f'text-anchor="middle">{_fmt(t)}</text>')  # fmt: skip
    for t in ay.ticks():
        y = ay(t)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{t:g}</text>')  # fmt: skip
    scale = " (log scale)" if ax.log else ""
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 10}" class="axis" text-anchor="middle">'
               f"{escape(cost)} ({escape(unit(cost))}) on {escape(target)}{scale}</text>"
               f'<text x="14" y="{(TOP + H - BOTTOM) / 2}" class="axis" text-anchor="middle" '
               f'transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})">test accuracy (%)</text>')  # fmt: skip
    for method, colour in colours.items():
        front = sorted((p for p in pts if p.method == method and p.on_front.get(cost)), key=lambda p: p.costs[cost])
        if len(front) > 1:
            coords = " ".join(f"{ax(p.costs[cost]):.1f},{ay(100 * p.test_acc):.1f}" for p in front)
            out.append(f'<polyline points="{coords}" class="line" stroke="{colour}"/>')
    order = sorted(pts, key=lambda p: (-p.test_acc, p.costs[cost]))
    anchors = _place_labels([(ax(p.costs[cost]), ay(100 * p.test_acc), p.label) for p in order])
    for p, (lx, ly, side) in zip(order, anchors, strict=True):
        x, y = ax(p.costs[cost]), ay(100 * p.test_acc)
        value = f"{cost} {p.costs[cost]:,.0f} {unit(cost)}"
        tip = f"{p.index:02d} {p.label}: {100 * p.test_acc:.2f}%, {value} ({p.run.name})"
        faint = "" if p.on_front.get(cost) else " off"
        out.append(f'<g class="pt{faint}" data-i="{p.index}" tabindex="0"><title>{escape(tip)}</title>'
                   f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colours[p.method]}"/>'
                   f'<text x="{lx:.1f}" y="{ly:.1f}" class="lbl" '
                   f'text-anchor="{side}">{escape(p.label)}</text></g>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)
