"""A Pareto sweep: one shared float warm-up, then one run per (method, strength | budget | bits) point.

Folder: <out_dir>/<sweep name>/{sweep.json, warmup/, 00-..., 01-..., ...}. Re-running with
--resume skips finished points and continues unfinished ones from their checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from search.config import ConfigError, SearchConfig, parse_quantity
from search.context import RunContext
from search.data import DataSplits
from search.device import resolve_device
from search.loader import place
from search.methods import method_names
from search.models import create_model
from search.ray_sweep import RayExecutor
from search.run import default_name, load_data, resolve, run
from search.rundir import Checkpoints, History, atomic_write_json, new_run_dir
from search.train import warmup


@dataclass(frozen=True)
class SweepConfig:
    methods: tuple[str, ...] = ("joint",)
    strengths: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)
    budgets: tuple[float, ...] = ()  # when given, budget points replace strength points
    uniform_bits: tuple[int, ...] = (8, 4, 2)
    name: str | None = None

    def __post_init__(self) -> None:
        known = method_names()
        for m in self.methods:
            if m not in known:
                raise ConfigError(f"sweep.methods: unknown method {m!r}; known: {', '.join(known)}")
        if not self.methods:
            raise ConfigError("sweep.methods must name at least one method")
        if any(s < 0 for s in self.strengths) or any(b <= 0 for b in self.budgets):
            raise ConfigError("sweep.strengths must be >= 0 and sweep.budgets > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepConfig:
        known = {"methods", "strengths", "budgets", "uniform_bits", "name"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown sweep key {unknown[0]!r}; known: {', '.join(sorted(known))}")

        def seq(key: str, conv) -> tuple:
            v = data.get(key)
            if v is None:
                return getattr(cls, key)
            items = v if isinstance(v, (list, tuple)) else [s for s in str(v).split(",") if s.strip()]
            try:
                return tuple(conv(x) for x in items)
            except (TypeError, ValueError, ConfigError):
                raise ConfigError(f"sweep.{key}: cannot read {v!r}") from None

        return cls(seq("methods", lambda s: str(s).strip()), seq("strengths", float), seq("budgets", parse_quantity),
                   seq("uniform_bits", int), data.get("name"))  # fmt: skip

    def points(self, base: SearchConfig) -> list[SearchConfig]:
        out = []
        for method in self.methods:
            if method == "uniform":
                out += [replace(base, method=method, uniform_bits=b, budget=None) for b in self.uniform_bits]
            elif self.budgets:
                out += [replace(base, method=method, budget=b) for b in self.budgets]
            else:
                out += [replace(base, method=method, strength=s, budget=None) for s in self.strengths]
        return out


def shared_warmup(cfg: SearchConfig, folder: Path, data: DataSplits | None = None) -> Path:
    """Train (or finish training) the float model once; returns its checkpoint."""
    ckpts = Checkpoints(folder / "checkpoints")
    target, cost, _ = resolve(cfg)
    device = resolve_device(cfg.device)
    data = place(data if data is not None else load_data(cfg), device)
    ctx = RunContext(cfg, folder, data, target, cost, History(folder / "history.csv"), ckpts, device)
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, data.num_classes, data.in_shape).to(device)
    metrics = warmup(model, ctx)
    atomic_write_json(folder / "metrics.json", {"phase": "warmup", **metrics})
    return ckpts.path("warmup")


def sweep(
    base: SearchConfig,
    spec: SweepConfig,
    resume: Path | None = None,
    warm_state: Path | None = None,
    executor: RayExecutor | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Run every point of the sweep; returns the sweep folder and the points' metrics.

    warm_state: a finished warm-up checkpoint to share (e.g. another target's sweep of the same model).
    executor: run the warm-up and the points as Ray tasks (search.ray_sweep); None: one after the other here.
    """
    points = spec.points(base)
    for p in points:  # fail on a bad target/cost/method before training anything
        resolve(p if executor is None else replace(p, device="cpu"))  # Ray: the device is checked on its node
    if resume is not None:
        folder = Path(resume)
        if not (folder / "sweep.json").exists():
            raise ConfigError(f"{folder} is not a sweep folder (no sweep.json)")
    else:
        name = spec.name or f"sweep-{base.model}-{base.target}-seed{base.seed}"
        folder = new_run_dir(Path(base.out_dir), name)
        atomic_write_json(folder / "sweep.json", {"base": base.to_dict(), "sweep": asdict(spec)})
    if executor is not None:
        return folder, _sweep_on(executor, base, points, folder, warm_state)
    data = load_data(base)  # every point splits the same data the same way: decode it once
    if warm_state is None:
        (folder / "warmup").mkdir(exist_ok=True)
        warm_state = shared_warmup(base, folder / "warmup", data)
    results = []
    for point, run_dir in _named(points, folder):
        if (run_dir / "metrics.json").exists():
            results.append(json.loads((run_dir / "metrics.json").read_text()))
        else:
            results.append(run(point, resume=run_dir if run_dir.exists() else None, warm_state=warm_state, data=data))
    return folder, results


def _named(points: list[SearchConfig], folder: Path) -> list[tuple[SearchConfig, Path]]:
    """Each point with its name and run folder inside the sweep folder (00-..., 01-...)."""
    out = []
    for i, point in enumerate(points):
        name = f"{i:02d}-{default_name(point)}"
        out.append((replace(point, out_dir=str(folder), name=name), folder / name))
    return out


def _sweep_on(executor: RayExecutor, base: SearchConfig, points: list[SearchConfig], folder: Path,
              warm_state: Path | None) -> list[dict[str, Any]]:  # fmt: skip
    """The same sweep with the warm-up and every unfinished point as an executor's task."""
    if warm_state is None:
        warm_state = folder / "warmup" / "checkpoints" / "warmup.pt"
        if not (folder / "warmup" / "metrics.json").exists():
            warm_state = executor.warmup(base, folder / "warmup")
    named = _named(points, folder)
    todo = [(p, d) for p, d in named if not (d / "metrics.json").exists()]
    fresh = iter(executor.run_points(todo, warm_state) if todo else [])
    return [json.loads((d / "metrics.json").read_text()) if (p, d) not in todo else next(fresh) for p, d in named]
