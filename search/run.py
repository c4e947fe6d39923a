"""One run end to end: warm-up -> method (search) -> materialize -> fine-tune -> evaluate -> write results."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

import cost_models
from search.config import ConfigError, SearchConfig
from search.context import RunContext
from search.data import DataSplits, load_dataset
from search.methods import get_method
from search.models import create_model
from search.rundir import Checkpoints, History, atomic_torch_save, atomic_write_json, atomic_write_text, new_run_dir
from search.train import evaluate, finetune, warmup
from supernet import materialize
from supernet.convert import check_module_paths
from targets import get_target


def resolve(cfg: SearchConfig):
    """Target, cost name and method, validated before anything is written."""
    target = get_target(cfg.target)
    cost = cfg.cost or target.costs[0]
    if cost not in cost_models.applicable(target):
        known = ", ".join(cost_models.applicable(target))
        raise ConfigError(f"cost {cost!r} does not apply to target {target.name!r}; use one of {known}")
    method = get_method(cfg.method)
    return target, cost, method


def default_name(cfg: SearchConfig) -> str:
    method = f"uniform-w{cfg.uniform_bits}" if cfg.method == "uniform" else cfg.method
    trade = f"b{cfg.budget:g}" if cfg.budget is not None else f"s{cfg.strength:g}"
    return f"{cfg.model}-{method}-{cfg.target}-{trade}-seed{cfg.seed}"


def load_run_config(run_dir: Path) -> SearchConfig:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a bitgate run folder (no config.json)")
    return SearchConfig.from_dict(json.loads(path.read_text()))


def load_data(cfg: SearchConfig) -> DataSplits:
    """The data set a configuration names, split as every run of it splits it."""
    return load_dataset(cfg.dataset, root=cfg.data_root, seed=cfg.seed, val_fraction=cfg.val_fraction,
                        train_subset=cfg.train_subset, download=cfg.download)  # fmt: skip


def check_paths(cfg: SearchConfig, data: DataSplits) -> None:
    """A misspelt exclude=/keep_channels= path fails before a run folder exists, not after the warm-up."""
    if not (cfg.exclude or cfg.keep_channels):
        return
    model = create_model(cfg.model, data.num_classes, data.in_shape)
    try:
        check_module_paths(model, cfg.exclude, "exclude")
        check_module_paths(model, cfg.keep_channels, "keep_channels")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def run(
    cfg: SearchConfig, resume: Path | None = None, warm_state: Path | None = None, data: DataSplits | None = None
) -> dict[str, Any]:
    """Run `cfg` in a new folder (or continue the run in `resume`); returns metrics.json's content.

    warm_state: a checkpoint of the warmed-up float model to start from (a sweep's shared warm-up).
    data: the already loaded `load_data(cfg)` (a sweep loads it once for all its points).
    """
    target, cost, method = resolve(cfg)
    data = data if data is not None else load_data(cfg)
    check_paths(cfg, data)
    if resume is not None:
        run_dir = Path(resume)
        cfg = load_run_config(run_dir)
    else:
        run_dir = new_run_dir(Path(cfg.out_dir), cfg.name or default_name(cfg))
        atomic_write_text(run_dir / "config.json", cfg.to_json())
    ctx = RunContext(cfg, run_dir, data, target, cost, History(run_dir / "history.csv"),
                     Checkpoints(run_dir / "checkpoints"))  # fmt: skip
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, data.num_classes, data.in_shape)
    if warm_state is not None:
        model.load_state_dict(torch.load(warm_state, map_location="cpu", weights_only=False)["state"]["model"])
        float_metrics = {"float_val_acc": evaluate(model, data.val), "float_test_acc": evaluate(model, data.test)}
    else:
        float_metrics = warmup(model, ctx)
    t1 = time.perf_counter()
    result = method(model, ctx)
    t2 = time.perf_counter()
    small = result.build() if result.build is not None else materialize(result.net, result.arch)
    tuned = finetune(small, ctx)
    t3 = time.perf_counter()
    costs = cost_models.evaluate_all(result.net.layer_choices(result.arch), target)
    costs = {k: v + result.extra_costs.get(k, 0.0) for k, v in costs.items()}
    metrics = {
        "method": result.arch.meta.get("method", cfg.method),
        "model": cfg.model,
        "dataset": cfg.dataset,
        "target": target.name,
        "cost_name": cost,
        "cost": costs[cost],
        "strength": cfg.strength,
        "budget": cfg.budget,
        "test_acc": tuned["test_acc"],
        "val_acc": tuned["val_acc"],
        **float_metrics,
        "costs": costs,
        "fits_flash": costs.get("memory", costs.get("size", 0.0)) <= target.flash_bytes,
        "epochs": {"warmup": cfg.warmup_epochs, "search": cfg.search_epochs, "finetune": cfg.finetune_epochs},
        "seconds": {"warmup": t1 - t0, "search": t2 - t1, "finetune": t3 - t2},
        **{f"search_{k}": v for k, v in result.info.items() if isinstance(v, (int, float))},
        "bits_only_layers": result.net.report(),  # layers that lost the pruning option, and why
    }
    arch = result.arch
    atomic_write_text(run_dir / "arch.json", arch.to_json())
    atomic_torch_save(run_dir / "model.pt", small)
    atomic_write_json(run_dir / "metrics.json", metrics)
    return metrics
