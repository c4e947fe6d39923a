"""Collect runs, find each method's non-dominated points, and plot accuracy versus cost."""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from reports.label_layout import Box, Marker, pick_spot, place  # noqa: E402
from reports.pick import LIMITS, amount, best, fit_of, rule  # noqa: E402
from reports.plot_style import method_style, point_label  # noqa: E402
from search.run_files import read_metrics  # noqa: E402
from search.rundir import RunFileError, atomic_write_bytes, atomic_write_text  # noqa: E402
from zoo.safe_load import one_line_of  # noqa: E402

log = logging.getLogger("bitgate")
DPI = 150


def _read_metrics(f: Path) -> dict | None:
    """metrics.json as a dict, or None (with a warning naming the file) when it cannot be used."""
    try:
        return read_metrics(f)
    except RunFileError as exc:
        log.warning("skipped a run: %s", one_line_of(exc))
        return None


def collect(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per finished run (a folder with metrics.json) found under `paths`; unreadable runs are
    skipped with a warning naming each (one bad file never spoils a plot)."""
    paths = list(paths)
    rows = []
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"results path {root} does not exist")
        files = [root] if root.name == "metrics.json" else sorted(root.rglob("metrics.json"))
        for f in files:
            m = _read_metrics(f)
            if m is None or "costs" not in m:  # unreadable, or e.g. a sweep's shared warm-up
                continue
            row = {k: v for k, v in m.items() if not isinstance(v, dict)}
            row.update({f"cost:{k}": v for k, v in m["costs"].items()})
            row["method_options"] = m.get("method_options") or {}
            fits, limits = fit_of(m)  # for the plot's pick and limit lines; None / NaN when not known
            row.update(fits=fits, flash_limit=limits.get("memory"), ram_limit=limits.get("peak_activation_ram"))
            row["run"] = str(f.parent)
            rows.append(row)
    if not rows:
        raise ValueError(f"no finished runs (metrics.json) under {', '.join(map(str, paths))}")
    return pd.DataFrame(rows)


def pareto_mask(cost: pd.Series, acc: pd.Series) -> pd.Series:
    """True where no other point is at most as costly and at least as accurate, and strictly better in one."""
    keep = []
    for i in cost.index:
        dominated = ((cost <= cost[i]) & (acc >= acc[i]) & ((cost < cost[i]) | (acc > acc[i]))).any()
        keep.append(not dominated)
    return pd.Series(keep, index=cost.index)


def _unit(cost: str) -> str:
    import cost_models

    return cost_models.get(cost).unit if cost in cost_models.names() else "?"


def cost_column(cost: str) -> str:
    """'search' means each run's own search cost (e.g. each target's latency model)."""
    return "cost" if cost == "search" else f"cost:{cost}"


def fronts(df: pd.DataFrame, cost: str) -> pd.DataFrame:
    """Add `on_front` per (target, method) for cost column `cost:<name>` (or each run's search cost)."""
    col = cost_column(cost)
    if col not in df:
        known = sorted(c[5:] for c in df.columns if c.startswith("cost:"))
        raise ValueError(f"no run reports cost {cost!r}; available: {', '.join(known)}")
    df = df.dropna(subset=[col]).copy()
    df["on_front"] = False
    for _, part in df.groupby(["target", "method"]):
        df.loc[part.index, "on_front"] = pareto_mask(part[col], part["test_acc"])
    return df


PANEL_IN = (5.0, 3.9)  # one panel of a grid, inches (750 x 585 px at 150 dpi)
SINGLE_IN = (6.4, 4.6)  # a plot with one panel
MARKER_PT, LABEL_PT = 6.5, 7.0
BEST_RING_PT = 15.0
AIR_PX = 1.5  # kept clear around a marker, beyond its radius


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) for n target panels: at most three across (five targets are 3 + 2, not one long row)."""
    cols = 1 if n == 1 else 2 if n in (2, 4) else 3
    return math.ceil(n / cols), cols


def _text_colour(colour: str) -> str:
    """A method's colour darkened by 35%: pale ones (yellow, pink) stay readable as text."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{int(c * 0.65):02x}" for c in (r, g, b))


def _best(part: pd.DataFrame, col: str, budget: float | None) -> object | None:
    """Index label of the point to pick on one target (reports.pick.best), or None when none qualifies."""
    fits = part["fits"] if "fits" in part else pd.Series([None] * len(part), index=part.index)
    ok = [not _known(f, False) and (budget is None or c <= budget) for f, c in zip(fits, part[col], strict=True)]
    i = best(list(part["test_acc"]), list(part[col]), ok)
    return None if i is None else part.index[i]


def _known(value: object, wanted: bool | None = None) -> bool:
    """Whether a `fits` cell holds a known answer (True or False; None/NaN: not known), or the `wanted` one."""
    if not isinstance(value, (bool, np.bool_)):
        return False
    return wanted is None or bool(value) == wanted


def _limit_lines(part: pd.DataFrame, col: str, lo: float, hi: float) -> list[tuple[float, str]]:
    """The target's own Flash or RAM limit, when the x axis is that cost and the limit is near the points."""
    cost = col[5:] if col.startswith("cost:") else ""
    key = {"memory": "flash_limit", "peak_activation_ram": "ram_limit"}.get(cost)
    if key is None or key not in part or part[key].dropna().empty:
        return []
    limit = float(part[key].dropna().iloc[0])
    name = LIMITS[cost][1]
    return [(limit, f"{part['target'].iloc[0]} {name} {amount(limit, 'bytes')}")] if lo <= limit <= hi * 1.5 else []


def _xlim(values: list[float], log: bool) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if log:
        return lo / 1.35, hi * 1.35
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


def figure(df: pd.DataFrame, cost: str, title: str = "", budget: float | None = None) -> Figure:
    """Accuracy against cost, a grid of panels (one per target, at most three across), one curve (its
    front) per method. Every point is labelled (its strength, budget or knob; a uniform point its
    method), beside its marker and over no other label or marker (reports.label_layout; points at the
    same spot share one stacked label). Methods differ by marker shape as well as colour (reports.plot_style);
    dominated runs are hollow. A ring marks the point to pick on each target: the most accurate one
    that fits the target's Flash and RAM and, with `budget` (in the cost's unit), costs no more than it;
    the budget is a dashed line with the region past it shaded. Labels carry gid 'label:TARGET:I'."""
    col = cost_column(cost)
    targets = sorted(df["target"].unique())
    rows, cols = grid_shape(len(targets))
    pw, ph = SINGLE_IN if len(targets) == 1 else PANEL_IN
    methods = sorted(df["method"].astype(str).unique())
    handles = [
        Line2D([], [], color=method_style(m)[0], marker=method_style(m)[1], ms=MARKER_PT, label=m) for m in methods
    ]
    if (~df["on_front"]).any():
        handles.append(
            Line2D([], [], ls="", color="grey", marker="o", mfc="none", ms=MARKER_PT, label="dominated runs (hollow)")
        )
    handles.append(
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            mfc="none",
            mec="black",
            mew=1.6,
            ms=BEST_RING_PT * 0.8,
            label="the pick (see each title)",
        )
    )
    if budget is not None:
        handles.append(
            Line2D([], [], color="#333333", ls="--", lw=1.1, label=f"budget {amount(budget, _unit_of(df, cost))}")
        )
    ncol = min(len(handles), 3 if cols == 1 else 5)
    legend_in = 0.19 * math.ceil(len(handles) / ncol) + 0.1
    top_in = 0.3 if title else 0.0
    fig_w, fig_h = pw * cols, ph * rows + legend_in + top_in
    fig, axes = plt.subplots(rows, cols, figsize=(fig_w, fig_h), dpi=DPI, squeeze=False)
    for ax in axes.flat[len(targets) :]:
        ax.remove()
    panels = []
    for ax, target in zip(axes.flat, targets, strict=False):  # the grid may have spare cells (removed above)
        part = df[df["target"] == target]
        panels.append((ax, target, part, _draw_panel(ax, target, part, cost, col, budget)))
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=7.5, frameon=False, bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, legend_in / fig_h, 1, 1 - top_in / fig_h), h_pad=1.6, w_pad=1.4)
    fig.canvas.draw()  # the layout is final from here on: label placement works in its pixels
    for ax, target, part, drawn in panels:
        _label_panel(fig, ax, target, part, col, drawn)
    return fig


def _unit_of(df: pd.DataFrame, cost: str) -> str:
    return _unit(str(df["cost_name"].iloc[0]) if cost == "search" else cost)


def _draw_panel(ax, target: str, part: pd.DataFrame, cost: str, col: str, budget: float | None) -> dict:
    """Markers, fronts, budget and limit lines, the pick's ring and the titles of one target's panel;
    returns what label placement needs (which point is the pick, the captions to keep clear)."""
    label = str(part["cost_name"].iloc[0]) if cost == "search" else cost
    unit = _unit(label)
    for method, m in sorted(part.groupby("method"), key=lambda kv: str(kv[0])):
        colour, marker = method_style(str(method))
        front = m[m["on_front"]].sort_values(col)
        ax.plot(front[col], 100 * front["test_acc"], marker=marker, color=colour, ms=MARKER_PT, lw=1.3, zorder=3)
        rest = m[~m["on_front"]]
        ax.plot(
            rest[col],
            100 * rest["test_acc"],
            ls="",
            marker=marker,
            mfc="white",
            mec=colour,
            mew=1.0,
            ms=MARKER_PT,
            alpha=0.8,
            zorder=2,
        )
    xs = [float(v) for v in part[col]]
    positive = [v for v in xs if v > 0]
    log_scale = bool(positive) and len(positive) == len(xs) and max(positive) / min(positive) > 10
    extent = xs + ([budget] if budget is not None else [])
    lo, hi = _xlim(extent, log_scale)
    lines = _limit_lines(part, col, lo, hi) + (
        [(budget, f"budget {amount(budget, unit)}")] if budget is not None else []
    )
    if lines:
        lo, hi = _xlim(extent + [v for v, _ in lines], log_scale)
    if log_scale:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlim(lo, hi)
    ys = [100 * float(v) for v in part["test_acc"]]
    pad = (max(ys) - min(ys)) * 0.12 or 0.5
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    captions = []
    for value, text in lines:
        dashed = text.startswith("budget")
        ax.axvline(value, color="#333333" if dashed else "#777777", ls="--" if dashed else ":", lw=1.1, zorder=1)
        if dashed:
            ax.axvspan(value, hi, color="#000000", alpha=0.06, lw=0, zorder=0)
        captions.append(
            ax.text(
                value,
                0.985,
                text + " ",
                transform=ax.get_xaxis_transform(),
                rotation=90,
                ha="right",
                va="top",
                fontsize=6.5,
                color="#333333",
            )
        )
    pick = _best(part, col, budget)
    fits_known = "fits" in part and any(_known(f) for f in part["fits"])
    if pick is not None:
        row = part.loc[pick]
        ax.plot(
            [row[col]],
            [100 * row["test_acc"]],
            ls="",
            marker="o",
            mfc="none",
            mec="black",
            mew=1.6,
            ms=BEST_RING_PT,
            zorder=4,
        )
        name = point_label(row.to_dict())
        name = f"{row['method']} {name}".strip()
        words = rule(budget, label, unit, bool(fits_known))
        pick_text = f"pick: {name}, {100 * row['test_acc']:.2f}% at {row[col]:,.0f} {_short(unit)}\n({words})"
    else:
        pick_text = f"no point qualifies\n({rule(budget, label, unit, bool(fits_known))})"
    ax.set_title(target, fontsize=9, fontweight="bold", pad=24)
    ax.text(0.5, 1.015, pick_text, transform=ax.transAxes, ha="center", va="bottom", fontsize=7, linespacing=1.3)
    ax.set_xlabel(f"{label} ({unit}) on {target}" + (", log scale" if log_scale else ""), fontsize=8)
    ax.set_ylabel("test accuracy (%)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    return {"pick": pick, "captions": captions}


def _short(unit: str) -> str:
    return {"bytes": "B"}.get(unit, unit)


def _label_panel(fig: Figure, ax, target: str, part: pd.DataFrame, col: str, drawn: dict) -> None:
    """Place every point's label (reports.label_layout) in the panel's final pixels and draw it."""
    renderer = fig.canvas.get_renderer()
    height = fig.bbox.height  # display y points up; the layout's y points down

    def px(x: float, y: float) -> tuple[float, float]:
        dx, dy = ax.transData.transform((x, y))
        return float(dx), float(height - dy)

    r = MARKER_PT / 2 * DPI / 72 + AIR_PX
    pick = drawn["pick"]
    # points at the same spot share one stacked label: the pick first, then front points, most accurate first
    order = sorted(
        part.index,
        key=lambda i: (
            i != pick,
            not part.at[i, "on_front"],
            -part.at[i, "test_acc"],
            part.at[i, col],
            str(part.at[i, "method"]),
            i,
        ),
    )
    groups: dict[tuple[float, float], list] = {}
    for i in order:
        groups.setdefault(px(part.at[i, col], 100 * part.at[i, "test_acc"]), []).append(i)
    ring = BEST_RING_PT / 2 * DPI / 72 + AIR_PX
    pick_xy = px(part.at[pick, col], 100 * part.at[pick, "test_acc"]) if pick is not None else None
    markers = [Marker(x, y, ring if (x, y) == pick_xy else r) for x, y in groups]
    segments = []
    for _, m in part[part["on_front"]].groupby("method"):
        pts = [px(x, 100 * a) for x, a in sorted(zip(m[col], m["test_acc"], strict=True))]
        segments += list(zip(pts, pts[1:], strict=False))
    texts, sizes = [], []
    for members in groups.values():
        lines = []
        for i in members:
            row = part.loc[i].to_dict()
            colour = method_style(str(row["method"]))[0]
            t = ax.text(
                0,
                0,
                point_label(row) or str(row["method"]),
                fontsize=LABEL_PT,
                ha="left",
                va="top",
                transform=None,
                color=_text_colour(colour) if row["on_front"] else "#808080",
                fontweight="bold" if i == pick else "normal",
                zorder=5,
            )
            t.set_gid(f"label:{target}:{i}")
            lines.append(t)
        ext = [t.get_window_extent(renderer) for t in lines]
        texts.append(lines)
        sizes.append((max(e.width for e in ext), sum(e.height for e in ext)))
    bb = ax.get_window_extent(renderer)
    area = Box(bb.x0 + 2, height - bb.y1 + 2, bb.x1 - 2, height - bb.y0 - 2)
    captions = []
    for c in drawn["captions"]:  # beside its line where it covers no marker and crosses no front: try four spots
        spots = []
        for ha, y, va in (
            ("right", 0.985, "top"),
            ("right", 0.015, "bottom"),
            ("left", 0.985, "top"),
            ("left", 0.015, "bottom"),
        ):
            c.set(ha=ha, va=va, y=y)
            e = c.get_window_extent(renderer)
            spots.append(((ha, y, va), Box(e.x0 - 1, height - e.y1 - 1, e.x1 + 1, height - e.y0 + 1)))
        k = pick_spot([box for _, box in spots], markers, segments)
        ha, y, va = spots[k][0]
        c.set(ha=ha, va=va, y=y, text=f" {c.get_text().strip()} ")
        captions.append(spots[k][1])
    anchors = [(m.x, m.y, m.r) for m in markers]
    placed = place(anchors, sizes, area, markers, captions, segments)
    to_data = ax.transData.inverted()
    for (x, y), lines, spot in zip(groups, texts, placed, strict=True):
        top = spot.box.y0
        for t in lines:
            t.set_transform(ax.transData)
            t.set_position(to_data.transform((spot.box.x0, height - top)))
            top += t.get_window_extent(renderer).height
        if spot.leader:
            ex, ey = spot.box.nearest_point(x, y)
            (ax0, ay0), (ax1, ay1) = to_data.transform([(x, height - y), (ex, height - ey)])
            ax.plot([ax0, ax1], [ay0, ay1], color="#999999", lw=0.6, zorder=1.5)


def plot(df: pd.DataFrame, cost: str, out_png: Path, title: str = "", budget: float | None = None) -> None:
    """figure() written as a PNG (DPI dots per inch), atomically."""
    fig = figure(df, cost, title, budget)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    atomic_write_bytes(out_png, buf.getvalue())


def pareto_report(
    paths: Iterable[str | Path], cost: str, out_dir: Path, title: str = "", budget: float | None = None
) -> tuple[Path, Path]:
    """Write pareto_<cost>.csv (every run, with on_front) and pareto_<cost>.png; returns both paths.
    `budget` (in the cost's unit) draws the budget line and picks the best point under it."""
    if budget is not None and not (budget > 0 and math.isfinite(budget)):
        raise ValueError(f"--budget must be a positive number, got {budget!r}")
    df = fronts(collect(paths), cost)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out_dir / f"pareto_{cost}.csv", out_dir / f"pareto_{cost}.png"
    table = df.drop(columns=["method_options"]).assign(options=df["method_options"].map(json.dumps))
    atomic_write_text(csv_path, table.sort_values(["target", "method", cost_column(cost)]).to_csv(index=False))
    plot(df, cost, png_path, title, budget)
    return csv_path, png_path
