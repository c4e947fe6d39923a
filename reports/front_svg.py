"""A Pareto front as inline SVG: every point a labelled marker that the report's script can highlight.

Hand-written SVG instead of a plotting library: the report must open offline, and a few dozen
markers need no 3.5 MB bundle. Tick positions come from matplotlib's locators and label widths from
its DejaVu Sans metrics (no drawing); labels are set in that font (Verdana, its near twin, else the
page's sans-serif) so the widths hold. Each point is `<g class="pt" data-i="INDEX">` with a
`<title>` (the browser's own tooltip), its marker (`.mk`, the method's shape and colour, as in the
PNG plots) and its label, so hovering says which run it is even with scripts disabled.

Labels are placed by reports.label_layout: beside their marker, over no other label or marker;
points at the same spot share one stacked label. The point to pick (reports.pick) wears a ring, a
budget is a dashed line with the region past it shaded, and the target's Flash or RAM limit a dotted
line when it is near the points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from html import escape

from matplotlib import ticker
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from reports.label_layout import Box, Marker, Placed, pick_spot, place
from reports.pick import LIMITS, amount
from reports.plot_style import method_style
from reports.points import Point, unit

W, H = 440, 330
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 14, 44
FONT = 10.0  # label size, px
LINE = 12.5  # label line height, px
R = 5.0  # marker radius, px
RING = 10.0  # radius of the pick's ring
AIR = 1.5  # kept clear around a marker
SLACK = 1.06  # labels are measured in DejaVu Sans; a little room for other renderers
_PATH = TextToPath()


@lru_cache(maxsize=4096)
def text_width(text: str, bold: bool = False) -> float:
    """Width in px of `text` at the label size, from DejaVu Sans's own advances."""
    props = FontProperties(family="DejaVu Sans", size=FONT, weight="bold" if bold else "normal")
    return _PATH.get_text_width_height_descent(text, props, ismath=False)[0] * SLACK


def method_colours(points: list[Point]) -> dict[str, str]:
    """One colour per method: the fixed per-method colour of every bitgate plot (reports.plot_style)."""
    return {m: method_style(m)[0] for m in dict.fromkeys(p.method for p in points)}


def marker_svg(marker: str, x: float, y: float, r: float, attrs: str) -> str:
    """Matplotlib's marker `marker` ('o', 's', '^', 'D', 'P', '*', ...) as an SVG shape of about radius r."""
    if marker == "o":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:g}" {attrs}/>'
    if marker == "s":
        a = r * 0.88
        return f'<rect x="{x - a:.1f}" y="{y - a:.1f}" width="{2 * a:.1f}" height="{2 * a:.1f}" {attrs}/>'
    if marker in "^v<>":
        start = {"^": -90, "v": 90, "<": 180, ">": 0}[marker]
        pts = _ring(x, y + (r * 0.2 if marker == "^" else -r * 0.2 if marker == "v" else 0), r * 1.15, 3, start)
    elif marker == "D":
        pts = _ring(x, y, r * 1.15, 4, -90)
    elif marker in "ph":
        pts = _ring(x, y, r * 1.08, 5 if marker == "p" else 6, -90)
    elif marker == "*":
        pts = [
            pt for k in range(5) for pt in (_polar(x, y, r * 1.3, -90 + 72 * k), _polar(x, y, r * 0.55, -54 + 72 * k))
        ]
    elif marker in "PX":
        a, b = r * 1.05, r * 0.38  # a thick plus; X is the same turned by 45 degrees
        plus = [
            (b, a),
            (b, b),
            (a, b),
            (a, -b),
            (b, -b),
            (b, -a),
            (-b, -a),
            (-b, -b),
            (-a, -b),
            (-a, b),
            (-b, b),
            (-b, a),
        ]
        turn = math.radians(45 if marker == "X" else 0)
        c, s = math.cos(turn), math.sin(turn)
        pts = [(x + u * c - v * s, y + u * s + v * c) for u, v in plus]
    else:
        return marker_svg("o", x, y, r, attrs)
    return f'<polygon points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in pts)}" {attrs}/>'


def _polar(x: float, y: float, r: float, deg: float) -> tuple[float, float]:
    return x + r * math.cos(math.radians(deg)), y + r * math.sin(math.radians(deg))


def _ring(x: float, y: float, r: float, n: int, start: float) -> list[tuple[float, float]]:
    return [_polar(x, y, r, start + 360 * k / n) for k in range(n)]


def legend_marker(method: str) -> str:
    """A method's marker for the report's legend, as a small inline SVG."""
    colour, marker = method_style(method)
    shape = marker_svg(marker, 8, 8, 5.5, f'fill="{colour}"')
    return f'<svg class="key" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">{shape}</svg>'


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
            lo, hi = lo / 1.3, hi * 1.3
        else:
            pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 1.0
            lo, hi = lo - pad, hi + pad
        self.lo, self.hi, self.p0, self.p1 = lo, hi, p0, p1

    def __call__(self, v: float) -> float:
        f = (
            (math.log(v) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
            if self.log
            else ((v - self.lo) / (self.hi - self.lo))
        )
        return self.p0 + f * (self.p1 - self.p0)

    def ticks(self) -> list[float]:
        loc = ticker.LogLocator(subs=(1.0, 2.0, 5.0)) if self.log else ticker.MaxNLocator(5)
        return [t for t in loc.tick_values(self.lo, self.hi) if self.lo <= t <= self.hi]


@dataclass(frozen=True)
class Panel:
    """Everything a panel draws, in pixels: what front_svg writes and what the tests check."""

    points: list[Point]
    xy: dict[int, tuple[float, float]]  # point index -> marker centre
    groups: list[list[Point]]  # points at one spot, in label order (one stacked label each)
    placed: list[Placed]  # one per group
    markers: list[Marker]
    lines: list[tuple[float, str, str, int]]  # (x pixel, caption, kind: budget | limit, caption spot)
    captions: list[Box]
    x_axis: _Axis
    y_axis: _Axis


def _caption_spots(x: float, width: float) -> list[Box]:
    """Where a vertical line's caption may go, reading upwards: left of it at the top or the bottom, then right."""
    top, bottom = (TOP + 2, TOP + 6 + width), (H - BOTTOM - 6 - width, H - BOTTOM - 2)
    return [
        Box(x - 13, top[0], x - 0.5, top[1]),
        Box(x - 13, bottom[0], x - 0.5, bottom[1]),
        Box(x + 0.5, top[0], x + 13, top[1]),
        Box(x + 0.5, bottom[0], x + 13, bottom[1]),
    ]


def _caption_svg(x: float, text: str, spot: int) -> str:
    """The caption at spot `spot` of _caption_spots: 9 px text turned to read upwards."""
    bx = x - 3 if spot < 2 else x + 10  # the baseline: glyphs rise to its left
    y, anchor = (TOP + 4, "end") if spot % 2 == 0 else (H - BOTTOM - 4, "start")
    return (
        f'<text class="cap" text-anchor="{anchor}" transform="translate({bx:.1f} {y}) rotate(-90)">'
        f"{escape(text)}</text>"
    )


def label_lines(group: list[Point], pick: int | None) -> list[tuple[str, bool]]:
    return [(p.label, p.index == pick) for p in group]


def layout(points: list[Point], cost: str, target: str, budget: float | None = None, pick: int | None = None) -> Panel:
    """Where every marker, line and label of one panel goes (see the module docstring)."""
    pts = [p for p in points if p.target == target and cost in p.costs]
    xs, ys = [p.costs[cost] for p in pts], [100 * p.test_acc for p in pts]
    limit = next((p.limits[cost] for p in pts if cost in p.limits), None)
    positive = [x for x in xs if x > 0]
    log = bool(positive) and len(positive) == len(xs) and max(xs) / min(positive) > 10
    extent = xs + ([budget] if budget is not None else [])
    if limit is not None and min(xs) <= limit <= 1.5 * max(xs):
        extent.append(limit)
    else:
        limit = None
    ax = _Axis(min(extent), max(extent), LEFT, W - RIGHT, log)
    ay = _Axis(min(ys), max(ys), H - BOTTOM, TOP, False)
    xy = {p.index: (ax(p.costs[cost]), ay(100 * p.test_acc)) for p in pts}
    # the pick first, then front points, most accurate first; dominated ones last
    order = sorted(pts, key=lambda p: (p.index != pick, not p.on_front.get(cost), -p.test_acc, p.costs[cost], p.index))
    spots: dict[tuple[float, float], list[Point]] = {}
    for p in order:
        spots.setdefault((round(xy[p.index][0], 1), round(xy[p.index][1], 1)), []).append(p)
    groups = list(spots.values())
    markers = [Marker(*xy[g[0].index], (RING if any(p.index == pick for p in g) else R) + AIR) for g in groups]
    segments = []
    for method in dict.fromkeys(p.method for p in pts):
        front = sorted(xy[p.index] for p in pts if p.method == method and p.on_front.get(cost))
        segments += list(zip(front, front[1:], strict=False))
    drawn: list[tuple[float, str, str]] = []
    if limit is not None:
        drawn.append((ax(limit), f"{target} {LIMITS[cost][1]} {amount(limit, 'bytes')}", "limit"))
    if budget is not None:
        drawn.append((ax(budget), f"budget {amount(budget, unit(cost))}", "budget"))
    lines, captions = [], []
    for x, text, kind in drawn:  # each caption beside its line where it covers no marker and crosses no front
        spots = _caption_spots(x, text_width(text))
        k = pick_spot(spots, markers, segments)
        lines.append((x, text, kind, k))
        captions.append(spots[k])
    sizes = [(max(text_width(t, b) for t, b in label_lines(g, pick)), LINE * len(g)) for g in groups]
    area = Box(LEFT + 2, TOP + 2, W - RIGHT - 2, H - BOTTOM - 2)
    placed = place([(m.x, m.y, m.r) for m in markers], sizes, area, markers, captions, segments)
    return Panel(pts, xy, groups, placed, markers, lines, captions, ax, ay)


def front_svg(
    points: list[Point],
    cost: str,
    target: str,
    colours: dict[str, str],
    budget: float | None = None,
    pick: int | None = None,
) -> str:
    """One panel: test accuracy against `cost` for the points on `target`, fronts drawn as lines."""
    panel = layout(points, cost, target, budget, pick)
    ax, ay = panel.x_axis, panel.y_axis
    out = [
        f'<svg class="front" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="test accuracy against {escape(cost)} on {escape(target)}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" class="frame"/>',
    ]
    for t in ax.ticks():
        x = ax(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" class="grid"/>'
            f'<text x="{x:.1f}" y="{H - BOTTOM + 15}" class="tick" '
            f'text-anchor="middle">{_fmt(t)}</text>'
        )
    for t in ay.ticks():
        y = ay(t)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{t:g}</text>'
        )
    for x, text, kind, spot in panel.lines:
        if kind == "budget":
            out.append(
                f'<rect x="{x:.1f}" y="{TOP}" width="{W - RIGHT - x:.1f}" height="{H - TOP - BOTTOM}" class="over"/>'
            )
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" class="{kind}"/>'
            + _caption_svg(x, text, spot)
        )
    scale = " (log scale)" if ax.log else ""
    out.append(
        f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 10}" class="axis" text-anchor="middle">'
        f"{escape(cost)} ({escape(unit(cost))}) on {escape(target)}{scale}</text>"
        f'<text x="14" y="{(TOP + H - BOTTOM) / 2}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})">test accuracy (%)</text>'
    )
    for method, colour in colours.items():
        front = sorted(
            (p for p in panel.points if p.method == method and p.on_front.get(cost)), key=lambda p: p.costs[cost]
        )
        if len(front) > 1:
            coords = " ".join(f"{panel.xy[p.index][0]:.1f},{panel.xy[p.index][1]:.1f}" for p in front)
            out.append(f'<polyline points="{coords}" class="line" stroke="{colour}"/>')
    for group, spot in zip(panel.groups, panel.placed, strict=True):
        x, y = panel.xy[group[0].index]
        if spot.leader:
            ex, ey = spot.box.nearest_point(x, y)
            out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" class="leader"/>')
    for group, spot in zip(panel.groups, panel.placed, strict=True):
        x, y = panel.xy[group[0].index]
        for k, p in reversed(list(enumerate(group))):  # the first of a spot drawn last, on top
            out.append(_point(p, cost, x, y, spot.box.x0, spot.box.y0 + k * LINE, colours[p.method], p.index == pick))
    out.append("</svg>")
    return "\n".join(out)


def _point(p: Point, cost: str, x: float, y: float, lx: float, ly: float, colour: str, is_pick: bool) -> str:
    value = f"{cost} {p.costs[cost]:,.0f} {unit(cost)}"
    tip = f"{p.index:02d} {p.label}: {100 * p.test_acc:.2f}%, {value} ({p.run.name})" + (
        " - the pick" if is_pick else ""
    )
    classes = "pt" + ("" if p.on_front.get(cost) else " off") + (" pick" if is_pick else "")
    ring = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RING:g}" class="ring"/>' if is_pick else ""
    filled = f'class="mk" fill="{colour}"' if p.on_front.get(cost) else f'class="mk" fill="#fff" stroke="{colour}"'
    baseline = ly + 0.93 * FONT + (LINE - 1.17 * FONT) / 2
    return (
        f'<g class="{classes}" data-i="{p.index}" tabindex="0"><title>{escape(tip)}</title>{ring}'
        f"{marker_svg(method_style(p.method)[1], x, y, R, filled)}"
        f'<text x="{lx:.1f}" y="{baseline:.1f}" class="lbl">{escape(p.label)}</text></g>'
    )
