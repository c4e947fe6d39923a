"""A whole front from one search: the regularization path (method `joint-path` in a sweep).

Independent searches pay warm-up-to-budget convergence once per point. Here one supernet is
searched with its budget moving from loose to tight: the loosest budget gets half the search
epochs, every tighter one `search_epochs / K` more (at least one), the strength and optimizers
carry over, and the temperature anneals over the whole path. At the end of every stage the argmax
architecture is repaired to that stage's budget (shrink, then grow) and saved with the supernet's
weights. Each saved architecture is then fine-tuned like any sweep point (a `joint-path` run).

With the cpu preset (10 search + 5 fine-tune epochs, 7 budgets) that is 11 + 7 x 5 = 46 epochs
against 7 x 15 = 105 for independent searches.

Folder: <sweep>/path-search/{config.json, history.csv, checkpoints/, stages/<k>-b<budget>/
{arch.json, supernet.pt}}; supernet.pt holds plain tensors (read with weights_only=True).
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from search.config import ConfigError, SearchConfig
from search.context import RunContext
from search.methods import MethodResult, register_method
from search.methods.common import build_supernet
from search.methods.differentiable import calibration_batch, fit_budget, target_bits
from search.model_file import load_arch
from search.rundir import (
    Checkpoints,
    History,
    RunFileError,
    atomic_write_bytes,
    atomic_write_text,
    load_tensors,
    one_line_of,
)
from search.train import search
from supernet import Supernet, discretize
from zoo.data import DataSplits
from zoo.models import create_model

PATH_METHOD = "joint-path"
SEARCH_FOLDER = "path-search"


def path_stages(budgets: tuple[float, ...], search_epochs: int) -> list[tuple[float, int]]:
    """(budget, epochs) from the loosest budget to the tightest."""
    order = sorted(set(budgets), reverse=True)
    if not order:
        raise ConfigError(f"{PATH_METHOD} needs budgets (e.g. --budgets 30kB,15kB,6kB)")
    first = max(1, search_epochs // 2)
    rest = max(1, round(search_epochs / len(order)))
    return [(order[0], first)] + [(b, rest) for b in order[1:]]


def stage_folder(search_dir: Path, k: int, budget: float) -> Path:
    return Path(search_dir) / "stages" / f"{k:02d}-b{budget:g}"


def _joint_supernet(model: nn.Module, ctx: RunContext) -> Supernet:
    bits = target_bits(ctx)
    bits = bits if 0 in bits else (0, *bits)
    return build_supernet(model, calibration_batch(ctx), ctx, bits=bits, act_bits=ctx.cfg.act_bits)


def run_path_search(
    base: SearchConfig, budgets: tuple[float, ...], folder: Path, warm_state: Path, data: DataSplits
) -> Path:
    """Search the path once (resuming whatever is there); returns its folder."""
    from search.run import resolve  # run imports the method registry, which imports this module

    cfg = replace(base, method=PATH_METHOD, budget=max(budgets), name=SEARCH_FOLDER)
    search_dir = Path(folder) / SEARCH_FOLDER
    stages = path_stages(budgets, cfg.search_epochs)
    if all((stage_folder(search_dir, k, b) / "arch.json").exists() for k, (b, _) in enumerate(stages)):
        return search_dir
    search_dir.mkdir(parents=True, exist_ok=True)
    if not (search_dir / "config.json").exists():
        atomic_write_text(search_dir / "config.json", cfg.to_json())
    target, cost, _ = resolve(cfg)
    ctx = RunContext(
        cfg,
        search_dir,
        data,
        target,
        cost,
        History(search_dir / "history.csv"),
        Checkpoints(search_dir / "checkpoints"),
    )
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, data.num_classes, data.in_shape)
    model.load_state_dict(Checkpoints(Path(warm_state).parent).load_state(Path(warm_state).stem, "model"))
    net = _joint_supernet(model, ctx)
    meta = {"method": PATH_METHOD, "target": target.name, "model": cfg.model}

    def save_stage(k: int) -> None:
        budget = stages[k][0]
        out = stage_folder(search_dir, k, budget)
        if (out / "arch.json").exists():
            return
        found = discretize(net, {**meta, "path_stage": k, "path_budget": budget})
        arch = fit_budget(net, found, replace(ctx, cfg=replace(cfg, budget=budget)))
        buf = io.BytesIO()
        torch.save({k2: v.detach().cpu().clone() for k2, v in net.state_dict().items()}, buf)
        atomic_write_bytes(out / "supernet.pt", buf.getvalue())
        atomic_write_text(out / "arch.json", arch.to_json())  # last: its presence marks the stage done

    search(net, ctx, phase="path", stages=stages, on_stage_end=save_stage)
    return search_dir


@register_method(PATH_METHOD, needs_path_search=True, style=17)
def joint_path(model: nn.Module, ctx: RunContext) -> MethodResult:
    """One point of the path: the architecture and weights saved at its budget's stage (no search here)."""
    cfg = ctx.cfg
    if cfg.from_search is None or cfg.budget is None:
        raise ConfigError(f"{PATH_METHOD} points come from `bitgate sweep --methods {PATH_METHOD} --budgets ...`")
    source = search_folder(cfg, ctx.run_dir)
    done = [load_arch(p / "arch.json") for p in sorted((source / "stages").glob("*")) if (p / "arch.json").exists()]
    match = [a for a in done if a.meta.get("path_budget") == cfg.budget]
    if not match:
        raise ConfigError(
            f"{source} has no finished path stage for budget {cfg.budget:g}; resume the sweep to search it again"
        )
    arch = match[0]
    stage = int(arch.meta["path_stage"])
    net = _joint_supernet(model, ctx)
    weights = stage_folder(source, stage, cfg.budget) / "supernet.pt"
    state = load_tensors(weights)  # weights_only: a planted pickle is one line naming the file
    try:
        net.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise RunFileError(f"{weights} does not match this network ({one_line_of(exc)})") from None
    return MethodResult(net, arch, {"path_stage": stage})


def as_path_point(point: SearchConfig) -> SearchConfig:
    """A `joint-path` point as it runs: from the sweep's path search, with no search epochs of its own.

    from_search is the path search's folder relative to the sweep folder (where the point's folder
    is), so a sweep that was moved, or is resumed by another spelling of its path, still resumes."""
    return replace(point, from_search=SEARCH_FOLDER, search_epochs=0)


def search_folder(cfg: SearchConfig, run_dir: Path) -> Path:
    """The path search a point comes from: relative to the sweep folder (absolute in older sweeps)."""
    return Path(run_dir).parent / cfg.from_search if cfg.from_search is not None else Path(run_dir).parent


def path_points(
    points: list[SearchConfig], base: SearchConfig, folder: Path, warm_state: Path, data: DataSplits
) -> list[SearchConfig]:
    """Run the path search if any point is a `joint-path` point; point those at it (no search epochs)."""
    budgets = tuple(p.budget for p in points if p.method == PATH_METHOD and p.budget is not None)
    if not any(p.method == PATH_METHOD for p in points):
        return points
    run_path_search(base, budgets, folder, warm_state, data)
    return [as_path_point(p) if p.method == PATH_METHOD else p for p in points]
