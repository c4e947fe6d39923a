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
from search.methods import method_names
from search.models import create_model
from search.pretrained import load_pretrained
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
    data = data if data is not None else load_data(cfg)
    target, cost, _ = resolve(cfg)
    ctx = RunContext(cfg, folder, data, target, cost, History(folder / "history.csv"), ckpts)
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, data.num_classes, data.in_shape)
    if cfg.pretrained is not None:
        load_pretrained(model, cfg.pretrained)
    metrics = warmup(model, ctx)
    atomic_write_json(folder / "metrics.json", {"phase": "warmup", **metrics})
    return ckpts.path("warmup")


def sweep(
    base: SearchConfig, spec: SweepConfig, resume: Path | None = None, warm_state: Path | None = None
) -> tuple[Path, list[dict[str, Any]]]:
    """Run every point of the sweep; returns the sweep folder and the points' metrics.

    warm_state: a finished warm-up checkpoint to share (e.g. another target's sweep of the same model).
    """
    points = spec.points(base)
    for p in points:
        resolve(p)  # fail on a bad target/cost/method before training anything
    if resume is not None:
        folder = Path(resume)
        if not (folder / "sweep.json").exists():
            raise ConfigError(f"{folder} is not a sweep folder (no sweep.json)")
    else:
        name = spec.name or f"sweep-{base.model}-{base.target}-seed{base.seed}"
        folder = new_run_dir(Path(base.out_dir), name)
        atomic_write_json(folder / "sweep.json", {"base": base.to_dict(), "sweep": asdict(spec)})
    data = load_data(base)  # every point splits the same data the same way: decode it once
    if warm_state is None:
        (folder / "warmup").mkdir(exist_ok=True)
        warm_state = shared_warmup(base, folder / "warmup", data)
    results = []
    for i, point in enumerate(points):
        name = f"{i:02d}-{default_name(point)}"
        point = replace(point, out_dir=str(folder), name=name)
        run_dir = folder / name
        if (run_dir / "metrics.json").exists():
            results.append(json.loads((run_dir / "metrics.json").read_text()))
        else:
            results.append(run(point, resume=run_dir if run_dir.exists() else None, warm_state=warm_state, data=data))
    return folder, results
