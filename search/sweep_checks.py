"""What a sweep checks before its folder exists, beyond each point's own checks (search/preflight.py).

A sweep is many runs written under one folder, so it can also go wrong as a whole: two points that
are the same run (1kB and 1000B, `--methods joint,joint`) would be trained twice and plotted as one;
a resumed sweep whose point folder was written by another configuration would report that foreign
run's accuracy as its own; a sweep with no point at all has nothing to do. Each is one line.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

from search.config import ConfigError, SearchConfig
from search.methods import method_spec
from search.path import as_path_point
from search.preflight import check_run
from search.run import RESUME_OVERRIDABLE, load_run_config
from search.run_files import read_metrics
from search.sweep_points import point_folders, point_label
from search.validate import check_name
from zoo.data import DataSplits

Labelled = list[tuple[SearchConfig, dict[str, float]]]
PLACE = ("out_dir", "name", "from_search")  # where a point is written and read from, not what it is


def _describe(cfg: SearchConfig, varied: dict[str, float]) -> str:
    return point_label(cfg, varied) or cfg.method


def check_points(points: Labelled) -> None:
    """At least one point, and no two points that are the same run."""
    if not points:
        raise ConfigError("the sweep has no points: give strengths, budgets, uniform bits or vary values")
    seen: dict[SearchConfig, int] = {}
    for i, (p, varied) in enumerate(points):
        key = replace(p, out_dir="", name=None)
        if key in seen:
            j = seen[key]
            raise ConfigError(
                f"sweep points {j + 1} and {i + 1} are the same run ({_describe(p, varied)}); drop the duplicate"
            )
        seen[key] = i


def differing_setting(saved: SearchConfig, wanted: SearchConfig) -> str | None:
    """The first setting (other than the place and what a resume may change) in which two runs differ."""
    for f in fields(SearchConfig):
        if f.name in PLACE or f.name in RESUME_OVERRIDABLE:
            continue
        if getattr(saved, f.name) != getattr(wanted, f.name):
            return f.name
    return None


def check_point_folders(named: list[tuple[SearchConfig, Path, dict[str, float]]]) -> None:
    """Every point folder a resumed sweep would continue holds that point's configuration, and a finished
    point's metrics.json can be read (the sweep's table shows them)."""
    for point, run_dir, varied in named:
        if not (run_dir / "config.json").exists():
            continue
        saved = load_run_config(run_dir)
        if (run_dir / "metrics.json").exists():
            read_metrics(run_dir / "metrics.json")
        wanted = as_path_point(point) if method_spec(point.method).needs_path_search else point
        key = differing_setting(saved, wanted)
        if key is not None:
            raise ConfigError(
                f"{run_dir} holds another configuration than point {_describe(point, varied)} "
                f"({key} {getattr(saved, key)!r} there, {getattr(wanted, key)!r} here): move it "
                "away, or sweep into a new folder"
            )


def check_sweep(
    base: SearchConfig, points: Labelled, data: DataSplits, named_in: Path | None = None, remote: bool = False
) -> None:
    """Each point as a run, once (the model is built and converted for the first point only), then the
    sweep's own checks. named_in: the folder of a resumed sweep, whose point folders are compared."""
    check_points(points)
    if base.name is not None:
        check_name(base.name)
    model = None
    for p, _ in points:
        p = replace(p, device="cpu") if remote else p  # Ray: the device is checked on its node
        p = as_path_point(p) if method_spec(p.method).needs_path_search else p
        model = check_run(p, data, new_folder=named_in is None, model=model).model
    if named_in is not None:
        check_point_folders(point_folders(points, named_in))
