"""Plots: every point labelled, no label over another label or a marker (PNG and SVG alike), a grid of
panels for many targets, a budget line, and the point to pick (the most accurate one that fits the
target's Flash and RAM and the budget). Overlaps are checked here with the test's own geometry, not
the placer's."""

from __future__ import annotations

import math
import random
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from reports.front_svg import R, layout, text_width
from reports.label_layout import Box, Marker, place
from reports.pareto import DPI, MARKER_PT, figure, fronts, grid_shape
from reports.pick import amount, best, fit_of, parse_budgets
from reports.points import Point, mark_fronts


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def covers(box: tuple[float, float, float, float], x: float, y: float, r: float) -> bool:
    """Whether a box comes within r of (x, y)."""
    dx = max(box[0] - x, 0.0, x - box[2])
    dy = max(box[1] - y, 0.0, y - box[3])
    return math.hypot(dx, dy) < r


def clashes(boxes: list, markers: list[tuple[float, float, float]]) -> list[str]:
    found = [f"labels {i} and {j}" for i in range(len(boxes)) for j in range(i) if overlaps(boxes[i], boxes[j])]
    return found + [
        f"label {i} over marker {k}" for i, b in enumerate(boxes) for k, m in enumerate(markers) if covers(b, *m)
    ]


# ---- the placer on its own -------------------------------------------------------------------------


def crowded(seed: int, n: int = 40) -> tuple[list[tuple[float, float, float]], list[tuple[float, float]]]:
    """n markers bunched along a front in a 420 x 280 px area (many within a label's width of another)."""
    rng = random.Random(seed)
    anchors = []
    for _ in range(n):
        t = rng.random()
        anchors.append((30 + 360 * t + rng.uniform(-8, 8), 250 - 210 * math.sqrt(t) + rng.uniform(-10, 10), 6.5))
    sizes = [(rng.uniform(30, 90), 12.0) for _ in range(n)]
    return anchors, sizes


@pytest.mark.parametrize("seed", range(6))
def test_no_label_covers_another_label_or_any_marker_on_a_crowded_front(seed):
    anchors, sizes = crowded(seed)
    area = Box(0, 0, 420, 280)
    placed = place(anchors, sizes, area, [Marker(x, y, r) for x, y, r in anchors])
    boxes = [(p.box.x0, p.box.y0, p.box.x1, p.box.y1) for p in placed]
    assert clashes(boxes, anchors) == []
    assert all(0 <= b[0] and b[2] <= 420 and 0 <= b[1] and b[3] <= 280 for b in boxes)
    assert [(round(b[2] - b[0], 6), round(b[3] - b[1], 6)) for b in boxes] == [(round(w, 6), h) for w, h in sizes]


def test_placement_is_deterministic():
    anchors, sizes = crowded(3)
    area, markers = Box(0, 0, 420, 280), [Marker(x, y, r) for x, y, r in crowded(3)[0]]
    assert place(anchors, sizes, area, markers) == place(list(anchors), list(sizes), area, list(markers))


def test_a_label_goes_beside_its_marker_when_there_is_room_and_gets_a_leader_when_pushed_away():
    alone = place([(100, 100, 6)], [(40, 12)], Box(0, 0, 300, 200), [Marker(100, 100, 6)])[0]
    assert alone.box == Box(108, 94, 148, 106) and not alone.leader  # right of the marker, centred on it
    # a marker hemmed in by eight neighbours' labels cannot keep its label next to it
    ring = [(100 + dx, 100 + dy) for dx in (-40, 0, 40) for dy in (-14, 0, 14) if (dx, dy) != (0, 0)]
    walls = [Box(x - 20, y - 7, x + 20, y + 7) for x, y in ring]
    hemmed = place([(100, 100, 6)], [(40, 12)], Box(0, 0, 300, 200), [Marker(100, 100, 6)], walls)[0]
    assert hemmed.leader and not any(hemmed.box.overlaps(w) for w in walls)


def test_labels_prefer_not_to_cross_a_front_line():
    # a line leaving the marker to the right: the label goes left instead of across it
    spot = place(
        [(100, 100, 6)], [(40, 12)], Box(0, 0, 300, 200), [Marker(100, 100, 6)], lines=[((100, 100), (250, 100))]
    )
    assert spot[0].box.x1 <= 100


# ---- the point to pick -----------------------------------------------------------------------------


def test_best_is_the_most_accurate_allowed_point_ties_to_the_cheaper():
    accs, costs = [0.90, 0.95, 0.97, 0.95], [1000, 3000, 4000, 2000]
    assert best(accs, costs, [True] * 4) == 2
    assert best(accs, costs, [True, True, False, True]) == 3  # 0.95 twice: the cheaper
    assert best(accs, costs, [False] * 4) is None


def test_budgets_parse_with_units_and_are_refused_in_one_line():
    assert parse_budgets(["10kB"]) == {"": 10000.0}
    assert parse_budgets(["memory=2KiB", "latency_cortexm=1.5M"]) == {"memory": 2048.0, "latency_cortexm": 1.5e6}
    for bad in (["ten"], ["0"], ["memory=1kB", "memory=2kB"]):
        with pytest.raises(ValueError):
            parse_budgets(bad)
    assert (
        amount(10000, "bytes") == "10 kB"
        and amount(1.5e6, "cycles") == "1.5M cycles"
        and amount(512, "bytes") == "512 B"
    )


@pytest.mark.parametrize(
    "fit",
    [
        None,
        [],
        "yes",
        {"fits": "yes"},
        {"fits": 1, "flash_limit": "2MB"},
        {"flash_limit": float("nan"), "ram_limit": -1},
    ],
)
def test_a_malformed_fit_in_metrics_json_is_not_known_never_an_error(fit):
    assert fit_of({"fit": fit}) == (None, {})


def test_fit_is_read_from_metrics_json():
    fit = {"fits": False, "flash_limit": 2097152, "ram_limit": 655360}
    assert fit_of({"fit": fit}) == (False, {"memory": 2097152.0, "peak_activation_ram": 655360.0})


# ---- the PNG (bitgate pareto) ----------------------------------------------------------------------


def frame(targets: tuple[str, ...] = ("stm32h7",), joint: int = 12, seed: int = 0) -> pd.DataFrame:
    """A crowded sweep per target: `joint` strengths (the cheap end bunched), dominated runs among them,
    uniform w8/w4/w2, two uniform points at the same spot, a w8 that does not fit the board."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in targets:
        for s in np.geomspace(0.001, 1, joint):
            size = 15000 / (1 + 8 * s) * rng.uniform(0.95, 1.05)
            rows.append(
                dict(
                    target=t,
                    method="joint",
                    cost_name="size",
                    cost=size,
                    test_acc=0.995 - 0.02 * s - rng.uniform(0, 0.01),
                    strength=round(float(s), 4),
                    budget=None,
                    fits=True,
                )
            )
        for method, size, acc in (
            ("uniform-w8", 15000, 0.99),
            ("uniform-w4", 7500, 0.974),
            ("uniform-w2", 3750, 0.966),
            ("uniform-w3", 3750, 0.966),
        ):  # w3 and w2 at one spot (made up)
            rows.append(
                dict(
                    target=t,
                    method=method,
                    cost_name="size",
                    cost=float(size),
                    test_acc=acc,
                    strength=0.1,
                    budget=None,
                    fits=method != "uniform-w8",
                )
            )
    df = pd.DataFrame(rows)
    df["cost:size"] = df["cost"]
    df["method_options"] = [{} for _ in range(len(df))]
    df["run"] = [f"run{i}" for i in range(len(df))]
    return fronts(df, "size")


def png_geometry(fig, df: pd.DataFrame) -> tuple[dict[str, list], dict[str, list], dict[str, tuple]]:
    """Per panel title: label boxes, marker circles (pixels, from the figure itself) and the panel's box."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    r = MARKER_PT / 2 * DPI / 72
    labels, markers, frames = {}, {}, {}
    for ax in fig.axes:
        target = ax.get_title()
        part = df[df["target"] == target]
        xy = ax.transData.transform(np.column_stack([part["cost:size"], 100 * part["test_acc"]]))
        markers[target] = [(x, y, r) for x, y in xy]
        labels[target] = [
            (t.get_gid(), t.get_window_extent(renderer)) for t in ax.texts if str(t.get_gid()).startswith("label:")
        ]
        bb = ax.get_window_extent(renderer)
        frames[target] = (bb.x0, bb.y0, bb.x1, bb.y1)
    return labels, markers, frames


@pytest.mark.parametrize("seed", range(3))
def test_png_labels_every_point_clear_of_labels_and_markers(seed):
    df = frame(("stm32h7",), joint=14, seed=seed)
    fig = figure(df, "size")
    try:
        labels, markers, frames = png_geometry(fig, df)
    finally:
        plt.close(fig)
    gids = [gid for gid, _ in labels["stm32h7"]]
    assert sorted(gids) == sorted(f"label:stm32h7:{i}" for i in df.index)  # every point, uniform and dominated too
    boxes = [(e.x0, e.y0, e.x1, e.y1) for _, e in labels["stm32h7"]]
    # points at the same spot share one stacked label: their lines touch, so check the stacks as wholes
    stacks: dict[tuple, list] = {}
    for (gid, _), box in zip(labels["stm32h7"], boxes, strict=True):
        i = int(gid.rsplit(":", 1)[1])
        stacks.setdefault((round(df.at[i, "cost:size"], 6), round(df.at[i, "test_acc"], 6)), []).append(box)
    merged = [
        (min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs))
        for bs in stacks.values()
    ]
    assert len(merged) < len(boxes)  # the frame does have points at one spot
    assert clashes(merged, markers["stm32h7"]) == []
    x0, y0, x1, y1 = frames["stm32h7"]
    assert all(x0 <= b[0] and b[2] <= x1 and y0 <= b[1] and b[3] <= y1 for b in boxes)


def test_five_targets_are_a_grid_of_panels_not_one_row():
    assert [grid_shape(n) for n in (1, 2, 3, 4, 5, 7)] == [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)]
    targets = ("gap8", "mpic", "stm32h7", "stm32l4", "stm32u5")
    df = frame(targets, joint=6)
    fig = figure(df, "size")
    try:
        width, height = fig.get_size_inches() * DPI
        rows = sorted({round(ax.get_position().y0, 3) for ax in fig.axes})
        labels, markers, _ = png_geometry(fig, df)
    finally:
        plt.close(fig)
    assert len(fig.axes) == 5 and len(rows) == 2
    assert width <= 3 * 5.0 * DPI < 4875  # the old single row was 6.5 in per target
    for t in targets:
        boxes = [(e.x0, e.y0, e.x1, e.y1) for _, e in labels[t]]
        assert len(boxes) == len(df[df["target"] == t])


def test_png_budget_line_and_the_pick():
    df = frame(("stm32h7",), joint=10)
    eligible = df[(df["cost:size"] <= 9000) & df["fits"]]
    expected = eligible.sort_values(["test_acc", "cost:size"], ascending=[False, True]).index[0]
    fig = figure(df, "size", budget=9000)
    try:
        ax = fig.axes[0]
        budget_lines = [ln for ln in ax.lines if list(ln.get_xdata()) == [9000, 9000]]
        bold = [t.get_gid() for t in ax.texts if t.get_fontweight() == "bold"]
        captions = [t.get_text() for t in ax.texts if t.get_text().strip().startswith("budget")]
        pick = [t.get_text() for t in ax.texts if t.get_text().startswith("pick:")]
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
    finally:
        plt.close(fig)
    assert len(budget_lines) == 1 and captions == [" budget 9 kB "]
    assert bold == [f"label:stm32h7:{expected}"]  # the pick's label, and only it
    assert f"{100 * df.at[expected, 'test_acc']:.2f}%" in pick[0] and "under the 9 kB size budget" in pick[0]
    assert "budget 9 kB" in legend


def test_png_pick_without_a_budget_skips_a_network_that_does_not_fit():
    df = frame(("stm32h7",), joint=3)
    df.loc[df["test_acc"].idxmax(), "fits"] = False  # the most accurate does not fit the board
    fig = figure(df, "size")
    try:
        bold = [t.get_gid() for t in fig.axes[0].texts if t.get_fontweight() == "bold"]
    finally:
        plt.close(fig)
    expected = df[df["fits"].astype(bool)].sort_values(["test_acc", "cost:size"], ascending=[False, True]).index[0]
    assert bold == [f"label:stm32h7:{expected}"]


def test_png_says_when_no_point_is_under_the_budget():
    df = frame(("stm32h7",), joint=3)
    fig = figure(df, "size", budget=1)
    try:
        texts = [t.get_text() for t in fig.axes[0].texts]
        bold = [t for t in fig.axes[0].texts if t.get_fontweight() == "bold"]
    finally:
        plt.close(fig)
    assert any(t.startswith("no point qualifies") for t in texts) and bold == []


def test_methods_differ_by_marker_shape_in_the_png():
    df = frame(("stm32h7",), joint=4)
    fig = figure(df, "size")
    try:
        shapes = {ln.get_label(): ln.get_marker() for ln in fig.legends[0].legend_handles}
    finally:
        plt.close(fig)
    methods = sorted(df["method"].unique())
    assert len({shapes[m] for m in methods}) == len(methods)


# ---- the SVG (bitgate report) ----------------------------------------------------------------------


def points(n: int = 16, seed: int = 1) -> list[Point]:
    """A crowded front of hand-made points on stm32h7, three of them at one spot."""
    rng = random.Random(seed)
    pts = []
    for i in range(n):
        s = 0.001 * 1000 ** (i / (n - 1))
        method, knob = ("joint", f"s{s:.3g}") if i < n - 3 else ("uniform-w4", "w4")
        cost = 15000 / (1 + 8 * s) * rng.uniform(0.97, 1.03) if i < n - 3 else 7500.0
        acc = 0.995 - 0.02 * s - rng.uniform(0, 0.008) if i < n - 3 else 0.97
        pts.append(
            Point(
                index=i,
                run=Path(f"/tmp/run{i}"),
                method=method,
                knob=knob,
                target="stm32h7",
                cost_name="size",
                test_acc=acc,
                val_acc=None,
                float_test_acc=None,
                costs={"size": cost},
                epochs={},
                seconds={},
                fits=True,
                limits={"memory": 2**21},
            )
        )
    return mark_fronts(pts)


@pytest.mark.parametrize("seed", range(3))
def test_svg_labels_every_point_clear_of_labels_and_markers(seed):
    pts = points(seed=seed)
    panel = layout(pts, "size", "stm32h7", budget=9000.0, pick=3)
    assert sorted(p.index for g in panel.groups for p in g) == [p.index for p in pts]
    assert [len(g) for g in panel.groups].count(3) == 1  # the three uniform points share one stacked label
    boxes = [(s.box.x0, s.box.y0, s.box.x1, s.box.y1) for s in panel.placed]
    for b, group in zip(boxes, panel.groups, strict=True):  # each box holds its lines as they will be drawn
        assert b[2] - b[0] >= max(text_width(p.label, p.index == 3) for p in group) - 1e-6
    circles = [(x, y, R) for x, y in panel.xy.values()]
    assert clashes(boxes, circles) == []
    captions = [(c.x0, c.y0, c.x1, c.y1) for c in panel.captions]
    assert len(captions) == 1 and not any(overlaps(b, c) for b in boxes for c in captions)
    assert clashes(captions, circles) == []  # the budget's caption sits where it covers no marker
