"""A tiny finished sweep (digits_cnn on synthetic 1x8x8 data, a few epochs) and a helper that
writes a run folder by hand (config, arch and metrics JSON) for a chosen architecture, no training."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import cost_models
from reports.html import write_report
from search.config import SearchConfig
from search.sweep import SweepConfig, sweep
from supernet import Architecture, to_supernet
from targets import get_target
from zoo.models import create_model


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Path:
    """Three points on stm32h7 (memory and CMSIS-NN latency): joint at a weak and a strong strength, w8."""
    base = SearchConfig(
        model="digits_cnn",
        dataset="synthetic",
        train_subset=128,
        target="stm32h7",
        cost="memory",
        warmup_epochs=1,
        search_epochs=3,
        finetune_epochs=1,
        batch_size=32,
        arch_lr=0.1,
        out_dir=str(tmp_path_factory.mktemp("report-runs")),
        progress=False,
    )
    folder, _ = sweep(base, SweepConfig(methods=("joint", "uniform"), strengths=(0.01, 30.0), uniform_bits=(8,)))
    return folder


@pytest.fixture(scope="session")
def tiny_report(tiny_sweep) -> Path:
    """report.html of the tiny sweep."""
    return write_report(tiny_sweep)


def write_run(folder: Path, model: str, target: str, bits: Callable[[str, int], list[int]]) -> Path:
    """A run folder for `model` on synthetic 1x8x8 data, 4 classes; bits(layer, channels) gives each layer's bits."""
    cfg = SearchConfig(model=model, dataset="synthetic", target=target, out_dir=str(folder))
    t = get_target(target)
    net = to_supernet(create_model(model, 4, (1, 8, 8)), torch.randn(2, 1, 8, 8), bits=t.weight_bits)
    arch = Architecture(
        {n: tuple(bits(n, s.out_channels)) for n, s in net.specs.items()},
        dict.fromkeys(net.specs, 8),
        {"method": "joint"},
    )
    costs = cost_models.evaluate_all(net.layer_choices(arch), t)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(cfg.to_json())
    (folder / "arch.json").write_text(arch.to_json())
    metrics = {
        "method": "joint",
        "target": target,
        "cost_name": t.costs[0],
        "cost": costs[t.costs[0]],
        "test_acc": 0.5,
        "costs": costs,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture
def hand_run() -> Callable[..., Path]:
    """write_run(folder, model, target, bits) -> the run folder."""
    return write_run
