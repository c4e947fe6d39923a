"""The points of a sweep as a report shows them: one per finished run, with its front membership per cost."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import cost_models
from reports.layers import checked_network, knob_label
from reports.measured import VERIFY_FILE, CoreMeasure, read_measured
from reports.pareto import pareto_mask
from reports.pick import fit_of
from search.run_files import is_point, read_arch, read_config, read_metrics
from search.rundir import RunFileError
from zoo.safe_load import one_line_of

log = logging.getLogger("bitgate")


@dataclass(frozen=True)
class Point:
    index: int
    run: Path
    method: str
    knob: str
    target: str
    cost_name: str  # the cost the search minimised
    test_acc: float
    val_acc: float | None
    float_test_acc: float | None
    costs: dict[str, float]
    epochs: dict[str, int]
    seconds: dict[str, float]
    on_front: dict[str, bool] = field(default_factory=dict)  # cost -> on its (target, method) front
    measured: tuple[CoreMeasure, ...] = ()  # per emulated core, when the run has a verify.json
    fits: bool | None = None  # fits the target's Flash and RAM (metrics.json's fit; None: not known)
    limits: dict[str, float] = field(default_factory=dict)  # cost -> the target's limit on it (memory: Flash)

    @property
    def label(self) -> str:
        """'joint s0.03', 'uniform-w8' (a uniform method's name already says its bits)."""
        return self.method if self.method.endswith(self.knob) else f"{self.method} {self.knob}"


def find_points(folder: str | Path) -> list[Point]:
    """Every finished run under `folder` (a folder with metrics.json that has costs), in folder-name order.

    A point whose files cannot be read is skipped with one warning naming the file: one bad run
    never takes the others' report with it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"sweep folder {folder} does not exist")
    points: list[Point] = []
    for path in sorted(folder.rglob("metrics.json")):
        try:
            point = read_point(path, len(points))
        except (RunFileError, FileNotFoundError) as exc:
            log.warning("skipped a run: %s", one_line_of(exc))
            continue
        if point is not None:
            points.append(point)
    if not points:
        raise ValueError(f"no finished runs (metrics.json with costs) under {folder}")
    return mark_fronts(points)


def read_point(path: Path, index: int) -> Point | None:
    """The point of one run's metrics.json (None: a sweep's warm-up, or a run killed before its end)."""
    m = read_metrics(path)
    if not is_point(m) or not (path.parent / "arch.json").exists():
        return None
    cfg = read_config(path.parent)
    checked_network(path.parent, cfg, m, read_arch(path.parent / "arch.json"))  # its picture will be drawn
    fits, limits = fit_of(m)
    return Point(
        index=index,
        run=path.parent,
        method=m["method"],
        knob=knob_label(cfg),
        target=m["target"],
        cost_name=m["cost_name"],
        test_acc=float(m["test_acc"]),
        val_acc=m.get("val_acc"),
        float_test_acc=m.get("float_test_acc"),
        costs={k: float(v) for k, v in m["costs"].items()},
        epochs=dict(m.get("epochs", {})),
        seconds={k: float(v) for k, v in m.get("seconds", {}).items()},
        measured=_measured(path.parent),
        fits=fits,
        limits=limits,
    )


def _measured(run: Path) -> tuple[CoreMeasure, ...]:
    """The run's verify.json figures; an unreadable file is named and left out, the point kept."""
    try:
        return read_measured(run)
    except (RunFileError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("left out the measured figures of %s (%s)", run / VERIFY_FILE, one_line_of(exc))
        return ()


def front_costs(points: list[Point]) -> list[str]:
    """Costs that get a front: each run's search cost, size, then any latency (cycles) every point has."""
    shared = set.intersection(*(set(p.costs) for p in points))
    cycles = [c for c in sorted(shared) if c in cost_models.names() and cost_models.get(c).unit == "cycles"]
    wanted = [p.cost_name for p in points] + ["size"] + cycles
    return [c for c in dict.fromkeys(wanted) if c in shared]


def mark_fronts(points: list[Point]) -> list[Point]:
    """Fill `on_front` for every front cost of each target, per (target, method), as `bitgate pareto` does."""
    flags: dict[int, dict[str, bool]] = {p.index: {} for p in points}
    for target in dict.fromkeys(p.target for p in points):
        pts = [p for p in points if p.target == target]
        df = pd.DataFrame([{"i": p.index, "method": p.method, "acc": p.test_acc, **p.costs} for p in pts])
        for cost in front_costs(pts):
            for _, part in df.groupby("method"):
                for i, on in zip(part["i"], pareto_mask(part[cost], part["acc"]), strict=True):
                    flags[int(i)][cost] = bool(on)
    return [Point(**{**p.__dict__, "on_front": flags[p.index]}) for p in points]


def unit(cost: str) -> str:
    return cost_models.get(cost).unit if cost in cost_models.names() else ""
