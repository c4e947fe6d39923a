"""One run end to end: warm-up -> method (search) -> materialize -> fine-tune -> evaluate -> write results.

Everything that can be checked is checked before the run folder is created (search/validate.py);
on resume only the learning rates may change (RESUME_OVERRIDABLE), and stale temporaries of a
killed process are removed first.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

import cost_models
from cost_models.fit import check_fit
from deploy.api import CALIBRATION_SAMPLES
from search import ddp
from search.config import ConfigError, SearchConfig
from search.constraints.limits import fit_limits_of, limit_report, run_limits
from search.context import RunContext
from search.deployed import deployed_test_accuracy
from search.device import resolve_device
from search.errors import blame
from search.loader import place
from search.methods import method_spec
from search.methods.sparsity import masked_network, weight_counts, with_nonzeros
from search.metrics import average_bit_width, nonzero_weight_bits
from search.model_file import save_model
from search.numbers import name_number
from search.numerics import numerics
from search.preflight import check_run, resolve, run_target  # noqa: F401 - resolve, run_target: re-exported
from search.pricing import layer_choices, price_as_exported
from search.run_files import read_config, read_metrics
from search.rundir import (
    Checkpoints,
    History,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    new_run_dir,
    remove_stale_temporaries,
)
from search.train import evaluate, finetune, warmup
from search.validate import safe_name
from search.verdicts import run_warnings
from supernet import materialize
from targets.snapshot import snapshot_files
from zoo.data import DATASETS, DataSplits, dataset_names, load_dataset

LOADER_OPTIONS = ("classes", "val_subset", "test_subset")  # settings that only some data set loaders take

log = logging.getLogger("bitgate")

# Settings a resumed run may change: they alter how fast it learns, not what it is.
# `device`: a run may continue on another machine (a GPU run on a laptop, ...).
RESUME_OVERRIDABLE = ("lr", "arch_lr", "progress", "tensorboard", "device", "compile")


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C after the last checkpoint is safe; `resume_command` continues the run."""

    def __init__(self, resume_command: str) -> None:
        super().__init__(resume_command)
        self.resume_command = resume_command


def default_name(cfg: SearchConfig, knob: str = "") -> str:
    """A filesystem-safe folder name saying what the run is (`knob`: a swept method option, e.g. t_margin0.05)."""
    spec = method_spec(cfg.method)
    trade = f"-b{name_number(cfg.budget)}" if cfg.budget is not None else f"-s{name_number(cfg.strength)}"
    trade = trade if spec.takes_budget else ""  # uniform-w4 says it all
    return safe_name(f"{cfg.model}-{spec.label(cfg)}-{cfg.target}{trade}{'-' + knob if knob else ''}-seed{cfg.seed}")


def load_run_config(run_dir: Path) -> SearchConfig:
    """RUN_DIR/config.json; a missing or corrupt file is a one-line error naming it (search/run_files.py)."""
    return read_config(run_dir)


def resume_config(run_dir: Path, overrides: dict[str, Any]) -> SearchConfig:
    """The saved config of RUN_DIR with the allowed overrides (lr, ...); any other override is refused."""
    saved = load_run_config(run_dir)
    refused = sorted(k for k in overrides if k not in RESUME_OVERRIDABLE)
    if refused:
        raise ConfigError(
            f"--resume continues the run as it was configured; {refused[0]} cannot change "
            f"(only {', '.join(RESUME_OVERRIDABLE)} can); start a new run instead"
        )
    if not overrides:
        return saved
    return SearchConfig.from_dict({**saved.to_dict(), **overrides})


def changed_keys(a: SearchConfig, b: SearchConfig) -> list[str]:
    return [f.name for f in fields(SearchConfig) if getattr(a, f.name) != getattr(b, f.name)]


def load_data(cfg: SearchConfig) -> DataSplits:
    """The data set a configuration names, split as every run of it splits it.

    Settings only some loaders have (LOADER_OPTIONS: classes, val_subset, test_subset) are passed when
    set, and refused in one line for a loader without them, rather than ignored."""
    accepts = loader_options(cfg.dataset)
    extra = {}
    for key in LOADER_OPTIONS:
        if getattr(cfg, key) is None:
            continue
        if key not in accepts:
            having = [n for n in dataset_names() if key in loader_options(n)]
            raise ConfigError(
                f"{key}: data set {cfg.dataset!r} has no {key} option; "
                f"data sets with one: {', '.join(having) or 'none'}"
            )
        extra[key] = getattr(cfg, key)
    return load_dataset(
        cfg.dataset,
        root=cfg.data_root,
        seed=cfg.seed,
        val_fraction=cfg.val_fraction,
        train_subset=cfg.train_subset,
        download=cfg.download,
        **extra,
    )


def loader_options(dataset: str) -> set[str]:
    """The keyword options data set `dataset`'s loader takes (an unknown name: none; load_dataset names it)."""
    fn = DATASETS.get(dataset)
    return set(inspect.signature(fn).parameters) if fn is not None else set(LOADER_OPTIONS)


def run(
    cfg: SearchConfig,
    resume: Path | None = None,
    warm_state: Path | None = None,
    data: DataSplits | None = None,
    resume_command: str | None = None,
) -> dict[str, Any]:
    """Run `cfg` in a new folder (or continue the run in `resume`); returns metrics.json's content.

    resume: the run folder to continue; `cfg` must equal its config.json but for RESUME_OVERRIDABLE
    (use `resume_config` to get it). warm_state: a checkpoint of the warmed-up float model to start
    from (a sweep's shared warm-up). data: the already loaded `load_data(cfg)` (a sweep loads it once
    for all its points). resume_command: what to tell the user to type to continue (default: search).
    Raises RunInterrupted on Ctrl-C (after the last checkpoint is safe) and TrainingDiverged.
    """
    reset_lr = False
    if resume is not None:
        run_dir = Path(resume)
        saved = load_run_config(run_dir)
        cfg = replace(cfg, out_dir=saved.out_dir, name=saved.name)  # the folder may be spelt differently now
        changed = changed_keys(saved, replace(cfg, from_search=saved.from_search))  # where, not what (path.py)
        refused = [k for k in changed if k not in RESUME_OVERRIDABLE]
        if refused:
            raise ConfigError(
                f"--resume {run_dir}: {refused[0]} differs from the run's config.json; "
                f"only {', '.join(RESUME_OVERRIDABLE)} may change on resume"
            )
        reset_lr = "lr" in changed or "arch_lr" in changed
        if (run_dir / "metrics.json").exists():  # finished: resuming it must not rewrite a byte of it
            if changed:
                log.warning("%s is finished: %s=%s changes nothing", run_dir, changed[0], getattr(cfg, changed[0]))
            log.info("run folder: %s (finished earlier; nothing to resume)", run_dir)
            return read_metrics(run_dir / "metrics.json")
    device = resolve_device(cfg.device)
    data = ddp.shard(place(data if data is not None else load_data(cfg), device), cfg.batch_size)
    checked = check_run(cfg, data, new_folder=resume is None, pretrained=warm_state is None)  # search/preflight.py
    target, cost, method = checked.target, checked.cost, checked.method
    model = checked.model.to(device)
    if resume is not None:
        remove_stale_temporaries(run_dir)
        if changed:
            atomic_write_text(run_dir / "config.json", cfg.to_json())
    else:
        run_dir = new_run_dir(Path(cfg.out_dir), cfg.name or default_name(cfg))
        atomic_write_text(run_dir / "config.json", cfg.to_json())
        for name, content in snapshot_files(target).items():  # export/show/report where it is not registered
            atomic_write_bytes(run_dir / name, content)
    command = resume_command or f"bitgate search --resume {run_dir}"
    log.info("run folder: %s%s", run_dir, " (resumed)" if resume is not None else "")
    ctx = RunContext(
        cfg,
        run_dir,
        data,
        target,
        cost,
        History(run_dir / "history.csv"),
        Checkpoints(run_dir / "checkpoints"),
        command,
        reset_lr,
        device,
    )
    try:
        # TF32 off unless set, deterministic kernels if asked; an unexpected failure's traceback goes to
        # RUN/error.log (bitgate/boundary.py)
        with blame(run_dir), numerics(cfg.tf32, cfg.deterministic, device):
            return _phases(ctx, model, method, warm_state)
    except RunInterrupted:
        raise
    except KeyboardInterrupt:
        raise RunInterrupted(command) from None


def _phases(ctx: RunContext, model: torch.nn.Module, method, warm_state: Path | None) -> dict[str, Any]:
    cfg, data, target, cost, run_dir = ctx.cfg, ctx.data, ctx.target, ctx.cost, ctx.run_dir
    t0 = time.perf_counter()
    if warm_state is not None:
        warm = Checkpoints(Path(warm_state).parent)
        model.load_state_dict(warm.load_state(Path(warm_state).stem, "model"))
        float_metrics = {"float_val_acc": evaluate(model, data.val), "float_test_acc": evaluate(model, data.test)}
    else:
        float_metrics = warmup(model, ctx)
    t1 = time.perf_counter()
    result = method(model, ctx)
    t2 = time.perf_counter()
    if result.build is not None:
        small = result.build()
    else:
        small = (
            masked_network(result.net, result.arch, result.masks)
            if result.masks
            else materialize(result.net, result.arch)
        )
    small = small.to(ctx.device)
    tuned = finetune(small, ctx)
    t3 = time.perf_counter()
    limits = run_limits(cfg, target, cost) if method_spec(cfg.method).takes_budget else ()
    counts = weight_counts(result.net, result.arch, small)
    # price the network as it is exported: its fine-tuned grids, and the ranges the export calibrates on
    price_as_exported(result.net, small, ctx.data.train.batch(slice(0, CALIBRATION_SAMPLES))[0].to(ctx.device))
    choices = with_nonzeros(layer_choices(result.net, result.arch), counts)
    costs = cost_models.evaluate_all(choices, target)
    costs = {k: v + result.extra_costs.get(k, 0.0) for k, v in costs.items()}
    metrics = {
        "method": result.arch.meta.get("method", cfg.method),
        "model": cfg.model,
        "dataset": cfg.dataset,
        "target": target.name,
        "flavour": target.flavour,
        "cost_name": cost,
        "cost": costs[cost],
        "strength": cfg.strength,
        "method_options": dict(cfg.method_options),
        "budget": cfg.budget,
        "test_acc": tuned["test_acc"],
        "deployed_test_acc": deployed_test_accuracy(small, data, target.flavour),
        "val_acc": tuned["val_acc"],
        **float_metrics,
        "costs": costs,
        "avg_bits": average_bit_width(choices, counts.present if counts is not None else None),
        "nonzero_weight_bits": nonzero_weight_bits(choices),
        "fits_flash": costs.get("memory", costs.get("size", 0.0)) <= target.flash_bytes,
        "fit": check_fit(layer_choices(result.net, result.arch), target, *fit_limits_of(cfg, target, cost)).to_dict(),
        "limits": limit_report(layer_choices(result.net, result.arch), target, limits),
        "epochs": {"warmup": cfg.warmup_epochs, "search": cfg.search_epochs, "finetune": cfg.finetune_epochs},
        "seconds": {"warmup": t1 - t0, "search": t2 - t1, "finetune": t3 - t2},
        **{f"search_{k}": v for k, v in result.info.items() if isinstance(v, (int, float))},
        "bits_only_layers": result.net.report(),  # layers that lost the pruning option, and why
    }
    arch = result.arch
    atomic_write_text(run_dir / "arch.json", arch.to_json())
    small = small.cpu()  # model.pt holds CPU tensors: it loads on any machine
    save_model(run_dir / "model.pt", small, cfg.model, data.num_classes, data.in_shape, cfg.seed, cfg.exclude)
    atomic_write_json(run_dir / "metrics.json", metrics)
    for line in run_warnings(tuned["test_acc"], data.num_classes, check_fit(layer_choices(result.net, arch), target)):
        log.warning("%s: %s", run_dir.name, line)  # once, at the end, where the user reads (search/verdicts.py)
    return metrics
