"""A sweep's points as people and folders see them: their progress label and their run folder's name."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from search.config import SearchConfig
from search.methods import method_spec
from search.run import default_name


def point_label(cfg: SearchConfig, varied: dict[str, float]) -> str:
    """'joint, strength 0.3' / 'uniform-w4' / 'importance, t_margin 0.05': the progress line of a point."""
    spec = method_spec(cfg.method)
    knobs = ", ".join(f"{k} {v:g}" for k, v in varied.items() if k != spec.points_from)
    return f"{spec.label(cfg)}, {knobs}" if knobs else spec.label(cfg)


def point_folders(
    points: list[tuple[SearchConfig, dict[str, float]]], folder: Path
) -> list[tuple[SearchConfig, Path, dict[str, float]]]:
    """Each point with its name and run folder inside the sweep folder (00-..., 01-...) and what varies at it."""
    out = []
    for i, (point, varied) in enumerate(points):
        shown = ("strength", "budget", method_spec(point.method).points_from)  # already in the name
        knob = "".join(f"{k}{v:g}" for k, v in varied.items() if k not in shown)
        name = f"{i:02d}-{default_name(point, knob)}"
        out.append((replace(point, out_dir=str(folder), name=name), folder / name, varied))
    return out
