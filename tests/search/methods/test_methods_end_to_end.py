"""Every new method end to end on synthetic data: result files, and metrics.json's cost equal to the
cost model evaluated on arch.json alone (plus the codebooks that arch.json records, for clustering)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import cost_models
from search import rundir
from search.config import SearchConfig
from search.context import RunContext
from search.methods import get_method
from search.run import run
from search.rundir import Checkpoints, History
from supernet import Architecture, materialize, to_supernet
from targets import get_target
from zoo.data import DataSplits, InMemoryDataset
from zoo.models import create_model

_RUN_IDS = itertools.count()
NEW_METHODS = ("prune-then-mps", "importance", "twonn", "twonn-cluster", "admm")


def _cost_from_arch_json(run_dir: Path, cost: str) -> float:
    arch = Architecture.load(run_dir / "arch.json")
    net = to_supernet(create_model("digits_cnn", 4, (1, 8, 8)), torch.randn(2, 1, 8, 8), bits=(0, 8))
    value = float(cost_models.evaluate(cost, net.layer_choices(arch), get_target("generic")))
    codebook = arch.meta.get("codebook")
    return value + (codebook["bytes"] if codebook and cost in ("size", "memory") else 0.0)


def _run(cfg, warm_state, method: str, **changes):
    cfg = replace(cfg, method=method, name=f"{next(_RUN_IDS):02d}-{method}", **changes)
    metrics = run(cfg, warm_state=warm_state)
    return metrics, Path(cfg.out_dir) / cfg.name


@pytest.mark.parametrize("method", NEW_METHODS)
def test_method_writes_results_with_exact_cost(methods_cfg, warm_state, method):
    metrics, folder = _run(methods_cfg, warm_state, method)
    for name in ("config.json", "history.csv", "arch.json", "metrics.json", "model.pt"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "metrics.json").read_text())["method"] == method
    assert metrics["cost"] == pytest.approx(_cost_from_arch_json(folder, "size"), abs=1e-9)
    assert metrics["costs"]["memory"] == pytest.approx(_cost_from_arch_json(folder, "memory"), abs=1e-9)
    assert 0.0 <= metrics["test_acc"] <= 1.0


def test_prune_then_mps_reports_both_search_times(methods_cfg, warm_state):
    metrics, folder = _run(methods_cfg, warm_state, "prune-then-mps")
    assert metrics["search_seconds_prune"] > 0 and metrics["search_seconds_mps"] > 0
    phases = {row.split(",")[0] for row in (folder / "history.csv").read_text().splitlines()[1:]}
    assert {"search-prune", "search-mps", "finetune"} <= phases


def test_admm_meets_its_budget(methods_cfg, warm_state):
    metrics, _ = _run(methods_cfg, warm_state, "admm", budget=1500.0)
    assert metrics["cost"] <= 1500.0
    assert metrics["search_arch_cost"] == metrics["cost"]


def test_twonn_layer_precisions(methods_cfg, warm_state):
    _, folder = _run(methods_cfg, warm_state, "twonn", method_options=(("delta", 0.0),))
    arch = Architecture.load(folder / "arch.json")
    bits = [set(b) for b in arch.weight_bits.values()]
    assert bits[0] == {8} and bits[-1] == {8}  # first and last layer "full precision" (8 bits)
    assert all(b == {2} for b in bits[1:-1])  # delta 0: every changed ID is significant -> 2 bits
    _, folder = _run(methods_cfg, warm_state, "twonn", method_options=(("delta", 1e9),))
    bits = [set(b) for b in Architecture.load(folder / "arch.json").weight_bits.values()]
    assert all(b == {1} for b in bits[1:-1])  # nothing significant -> binary


def test_importance_with_zero_margin_never_loses_accuracy(methods_cfg, warm_state):
    metrics, _ = _run(methods_cfg, warm_state, "importance", method_options=(("t_margin", 0.0),))
    assert metrics["search_search_val_acc"] >= metrics["search_reference_val_acc"]


@pytest.mark.parametrize("method", ["admm", "prune-then-mps"])
def test_killed_run_resumes_to_the_same_architecture(methods_cfg, warm_state, monkeypatch, method):
    """ADMM keeps V, U and its linearisation point in the checkpoint; prune-then-mps has two search phases."""
    cfg = replace(methods_cfg, method=method, search_epochs=2, finetune_epochs=0)
    whole = replace(cfg, name=f"{next(_RUN_IDS):02d}-whole")
    reference = run(whole, warm_state=warm_state)
    save = rundir.Checkpoints.save
    phase = "admm" if method == "admm" else "search-mps"

    def killing_save(self, name, next_epoch, objects, extra=None):
        save(self, name, next_epoch, objects, extra)
        if name == phase and next_epoch == 1:
            raise KeyboardInterrupt  # dies right after the first epoch's checkpoint

    monkeypatch.setattr(rundir.Checkpoints, "save", killing_save)
    cfg = replace(cfg, name=f"{next(_RUN_IDS):02d}-killed")
    with pytest.raises(KeyboardInterrupt):
        run(cfg, warm_state=warm_state)
    monkeypatch.setattr(rundir.Checkpoints, "save", save)
    folder = Path(cfg.out_dir) / cfg.name
    resumed = run(cfg, resume=folder, warm_state=warm_state)
    assert (resumed["cost"], resumed["test_acc"]) == (reference["cost"], reference["test_acc"])
    first = Architecture.load(Path(whole.out_dir) / whole.name / "arch.json")
    assert Architecture.load(folder / "arch.json").weight_bits == first.weight_bits


@pytest.mark.parametrize("method", NEW_METHODS)
def test_methods_respect_residual_groups(tiny_model, tmp_path, method):
    """On a ResNet, layers meeting at an add keep the same channels (net.check) and the result materializes."""
    model, _ = tiny_model("resnet")
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> InMemoryDataset:
        return InMemoryDataset(torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g))

    data = DataSplits("random", split(96), split(32), split(32), num_classes=3, in_shape=(3, 8, 8))
    options = {"importance": (("t_margin", 1.0),), "admm": (("budget_frac", 0.2),)}.get(method, ())
    cfg = SearchConfig(
        method=method, search_epochs=1, batch_size=32, progress=False, out_dir=str(tmp_path), method_options=options
    )
    ctx = RunContext(
        cfg, tmp_path, data, get_target("generic"), "size", History(tmp_path / "h.csv"), Checkpoints(tmp_path / "ck")
    )
    result = get_method(method)(model.train(), ctx)
    result.net.check(result.arch)
    small = result.build() if result.build is not None else materialize(result.net, result.arch)
    assert small(data.val.batch(slice(0, 4))[0]).shape == (4, 3)
    assert list(result.arch.weight_bits) == result.net.layer_names
