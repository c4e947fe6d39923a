"""End-to-end runs on synthetic data: result files, exact costs, strength/budget, resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import cost_models
from deploy.buffers import plan_buffers
from search import rundir
from search.run import run
from supernet import Architecture, to_supernet
from targets import get_target
from zoo.models import create_model


def _cost_of_arch(run_dir: Path, cost: str, target: str) -> float:
    arch = Architecture.load(run_dir / "arch.json")
    net = to_supernet(create_model("digits_cnn", 4, (1, 8, 8)), torch.randn(2, 1, 8, 8), bits=(0, 2, 4, 8))
    return float(cost_models.evaluate(cost, net.layer_choices(arch, plan=plan_buffers), get_target(target)))


def _only_run(cfg) -> Path:
    (folder,) = [p for p in Path(cfg.out_dir).iterdir() if p.is_dir()]
    return folder


def test_tiny_search_writes_every_file_and_exact_cost(tiny_cfg):
    metrics = run(tiny_cfg)
    folder = _only_run(tiny_cfg)
    for name in ("config.json", "history.csv", "arch.json", "metrics.json", "model.pt"):
        assert (folder / name).is_file(), name
    assert {p.name for p in (folder / "checkpoints").iterdir()} == {"warmup.pt", "search.pt", "finetune.pt"}
    assert json.loads((folder / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert metrics["cost"] == _cost_of_arch(folder, "size", "generic")
    assert metrics["costs"]["size"] == metrics["cost"]
    assert metrics["fit"]["ram_bytes"] == round(metrics["costs"]["peak_activation_ram"]) and metrics["fit"]["fits"]
    history = (folder / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 2 + 3 + 1  # header + warm-up + search + fine-tune epochs
    assert metrics["test_acc"] > 0.4  # 4 classes: far above chance (0.25); seeds 0-4 score 0.65-0.74


def test_runs_never_overwrite_each_other(tiny_cfg):
    cfg = replace(tiny_cfg, warmup_epochs=0, search_epochs=1, finetune_epochs=0, name="same")
    run(cfg)
    run(cfg)
    assert sorted(p.name for p in Path(cfg.out_dir).iterdir()) == ["same", "same-2"]


def test_higher_strength_gives_cheaper_architecture(tiny_cfg):
    weak = run(replace(tiny_cfg, strength=0.0, search_epochs=4, finetune_epochs=0))
    strong = run(replace(tiny_cfg, strength=30.0, search_epochs=4, finetune_epochs=0))
    assert strong["cost"] < 0.5 * weak["cost"]


def test_budget_mode_lands_within_budget(tiny_cfg):
    full = run(replace(tiny_cfg, strength=0.0, search_epochs=1, finetune_epochs=0))
    budget = 0.3 * full["cost"]
    metrics = run(replace(tiny_cfg, budget=budget, finetune_epochs=0))
    assert metrics["cost"] <= budget
    assert metrics["budget"] == budget


def test_killed_run_resumes_to_the_same_architecture(tiny_cfg, monkeypatch):
    reference = run(replace(tiny_cfg, name="uninterrupted"))
    save = rundir.Checkpoints.save

    def killing_save(self, phase, next_epoch, objects, extra=None):
        save(self, phase, next_epoch, objects, extra)
        if phase == "search" and next_epoch == 1:
            raise KeyboardInterrupt  # the process dies right after the first search epoch's checkpoint

    monkeypatch.setattr(rundir.Checkpoints, "save", killing_save)
    cfg = replace(tiny_cfg, name="killed")
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.setattr(rundir.Checkpoints, "save", save)
    folder = Path(cfg.out_dir) / "killed"
    assert not (folder / "arch.json").exists()
    resumed = run(cfg, resume=folder)
    first = Architecture.load(Path(cfg.out_dir) / "uninterrupted" / "arch.json")
    assert Architecture.load(folder / "arch.json").weight_bits == first.weight_bits
    assert resumed["test_acc"] == reference["test_acc"]


def test_activation_bits_the_target_lacks_are_refused_before_training():
    from search.config import ConfigError, SearchConfig
    from search.run import resolve

    with pytest.raises(ConfigError, match=r"stm32l4.*\[2, 4\]-bit activations"):
        resolve(SearchConfig(target="stm32l4", act_bits=(2, 4, 8)))
    assert resolve(SearchConfig(target="mpic", act_bits=(2, 4, 8)))[1] == "latency_mpic"
