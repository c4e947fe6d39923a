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
from search.methods import check_word_options, get_method
from search.methods.sparsity import masked_network, weight_counts, with_nonzeros
from search.metrics import average_bit_width, nonzero_weight_bits
from search.models import create_model
from search.pretrained import load_pretrained
from search.rundir import Checkpoints, History, atomic_torch_save, atomic_write_json, atomic_write_text, new_run_dir
from search.train import evaluate, finetune, warmup
from supernet import materialize
from targets import get_target

CLASS_SUBSETS = ("cifar10", "tinyimagenet")  # loaders with a `classes` option


def resolve(cfg: SearchConfig):
    """Target, cost name and method, validated before anything is written."""
    target = get_target(cfg.target)
    cost = cfg.cost or target.costs[0]
    if cost not in cost_models.applicable(target):
        known = ", ".join(cost_models.applicable(target))
        raise ConfigError(f"cost {cost!r} does not apply to target {target.name!r}; use one of {known}")
    method = get_method(cfg.method)
    check_word_options(cfg, cost)
    if cfg.pretrained is not None and not Path(cfg.pretrained).expanduser().is_file():
        raise ConfigError(f"pretrained: weights file {cfg.pretrained} does not exist")
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
    extra = {}
    if cfg.classes is not None:
        if cfg.dataset not in CLASS_SUBSETS:
            raise ConfigError(f"classes: data set {cfg.dataset!r} cannot select classes; "
                              f"use one of {', '.join(CLASS_SUBSETS)}")  # fmt: skip
        extra["classes"] = cfg.classes
    return load_dataset(cfg.dataset, root=cfg.data_root, seed=cfg.seed, val_fraction=cfg.val_fraction,
                        train_subset=cfg.train_subset, download=cfg.download, **extra)  # fmt: skip


def run(
    cfg: SearchConfig, resume: Path | None = None, warm_state: Path | None = None, data: DataSplits | None = None
) -> dict[str, Any]:
    """Run `cfg` in a new folder (or continue the run in `resume`); returns metrics.json's content.

    warm_state: a checkpoint of the warmed-up float model to start from (a sweep's shared warm-up).
    data: the already loaded `load_data(cfg)` (a sweep loads it once for all its points).
    """
    target, cost, method = resolve(cfg)
    data = data if data is not None else load_data(cfg)
    if cfg.pretrained is not None and warm_state is None and resume is None:  # refuse a bad file before writing
        load_pretrained(create_model(cfg.model, data.num_classes, data.in_shape), cfg.pretrained)
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
    if cfg.pretrained is not None and warm_state is None:
        load_pretrained(model, cfg.pretrained)
    if warm_state is not None:
        model.load_state_dict(torch.load(warm_state, map_location="cpu", weights_only=False)["state"]["model"])
        float_metrics = {"float_val_acc": evaluate(model, data.val), "float_test_acc": evaluate(model, data.test)}
    else:
        float_metrics = warmup(model, ctx)
    t1 = time.perf_counter()
    result = method(model, ctx)
    t2 = time.perf_counter()
    if result.build is not None:
        small = result.build()
    else:
        small = masked_network(result.net, result.arch, result.masks) if result.masks else materialize(
            result.net, result.arch)  # fmt: skip
    tuned = finetune(small, ctx)
    t3 = time.perf_counter()
    counts = weight_counts(result.net, result.arch, small)
    choices = with_nonzeros(result.net.layer_choices(result.arch), counts)
    costs = cost_models.evaluate_all(choices, target)
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
        "avg_bits": average_bit_width(choices, counts.present if counts is not None else None),
        "nonzero_weight_bits": nonzero_weight_bits(choices),
        "fits_flash": costs.get("memory", costs.get("size", 0.0)) <= target.flash_bytes,
        "epochs": {"warmup": cfg.warmup_epochs, "search": cfg.search_epochs, "finetune": cfg.finetune_epochs},
        "seconds": {"warmup": t1 - t0, "search": t2 - t1, "finetune": t3 - t2},
        **{f"search_{k}": v for k, v in result.info.items() if isinstance(v, (int, float))},
    }
    arch = result.arch
    atomic_write_text(run_dir / "arch.json", arch.to_json())
    atomic_torch_save(run_dir / "model.pt", small)
    atomic_write_json(run_dir / "metrics.json", metrics)
    return metrics
