"""The float warm-up a sweep's points share: trained once, its checkpoint is every point's start."""

from __future__ import annotations

from pathlib import Path

import torch

from search.config import SearchConfig
from search.context import RunContext
from search.device import resolve_device
from search.loader import place
from search.run import load_data, resolve
from search.rundir import Checkpoints, History, atomic_write_json
from search.train import warmup
from zoo.data import DataSplits
from zoo.models import create_model
from zoo.pretrained import load_pretrained


def shared_warmup(
    cfg: SearchConfig, folder: Path, data: DataSplits | None = None, resume_command: str = "", reset_lr: bool = False
) -> Path:
    """Train (or finish training) the float model once; returns its checkpoint."""
    ckpts = Checkpoints(folder / "checkpoints")
    target, cost, _ = resolve(cfg)
    device = resolve_device(cfg.device)
    data = place(data if data is not None else load_data(cfg), device)
    ctx = RunContext(
        cfg, folder, data, target, cost, History(folder / "history.csv"), ckpts, resume_command, reset_lr, device
    )
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, data.num_classes, data.in_shape)
    if cfg.pretrained is not None:
        load_pretrained(model, cfg.pretrained)
    model = model.to(device)
    metrics = warmup(model, ctx)
    atomic_write_json(folder / "metrics.json", {"phase": "warmup", **metrics})
    return ckpts.path("warmup")
