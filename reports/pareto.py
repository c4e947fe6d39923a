"""Collect runs, find each method's non-dominated points, and plot accuracy versus cost."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402

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


def plot(df: pd.DataFrame, cost: str, out_png: Path, title: str = "") -> None:
    """Accuracy vs cost, one panel per target, one curve (its front) per method, each point labelled with
    its strength/budget/knob; faint dots (one legend entry) for dominated runs. Colours: plot_style."""
    col = cost_column(cost)
    targets = sorted(df["target"].unique())
    fig, axes = plt.subplots(1, len(targets), figsize=(6.5 * len(targets), 4.8), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        part = df[df["target"] == target]
        for method, m in sorted(part.groupby("method"), key=lambda kv: kv[0]):
            colour, marker = method_style(str(method))
            front = m[m["on_front"]].sort_values(col)
            ax.plot(front[col], 100 * front["test_acc"], marker=marker, color=colour, label=method)
            rest = m[~m["on_front"]]
            ax.scatter(rest[col], 100 * rest["test_acc"], color=colour, marker=marker, alpha=0.25, s=16)
            labels: dict[tuple[float, float], list[str]] = {}  # identical points share one label
            for _, row in front.iterrows():
                labels.setdefault((row[col], 100 * row["test_acc"]), []).append(point_label(row.to_dict()))
            for xy, texts in labels.items():
                if any(texts):
                    ax.annotate(" ".join(t for t in texts if t), xy, textcoords="offset points", xytext=(4, 4),
                                fontsize=6, color=colour)  # fmt: skip
        if (~part["on_front"]).any():
            ax.scatter([], [], color="grey", alpha=0.25, s=16, label="dominated runs (faint)")
        values = part[col][part[col] > 0]
        log_scale = bool(len(values) and values.max() / values.min() > 10)
        if log_scale:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        label = part["cost_name"].iloc[0] if cost == "search" else cost
        ax.set_xlabel(f"{label} ({_unit(label)}) on {target}" + (", log scale" if log_scale else ""))
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.set_title(title or target)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    atomic_write_bytes(out_png, buf.getvalue())


def pareto_report(paths: Iterable[str | Path], cost: str, out_dir: Path, title: str = "") -> tuple[Path, Path]:
    """Write pareto_<cost>.csv (every run, with on_front) and pareto_<cost>.png; returns both paths."""
    df = fronts(collect(paths), cost)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out_dir / f"pareto_{cost}.csv", out_dir / f"pareto_{cost}.png"
    table = df.drop(columns=["method_options"]).assign(options=df["method_options"].map(json.dumps))
    atomic_write_text(csv_path, table.sort_values(["target", "method", cost_column(cost)]).to_csv(index=False))
    plot(df, cost, png_path, title)
    return csv_path, png_path
