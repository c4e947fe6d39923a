"""The regularization path: one search, one saved architecture per budget, each within it."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from search.config import ConfigError
from search.model_file import load_model
from search.path import path_stages
from search.run import load_data, run
from search.sweep import SweepConfig, sweep
from search.train import evaluate
from supernet import Architecture


def test_stages_go_from_loose_to_tight_and_split_the_epochs() -> None:
    assert path_stages((6e3, 30e3, 15e3), 10) == [(30e3, 5), (15e3, 3), (6e3, 3)]
    assert path_stages((3e3, 6e3, 10e3, 15e3, 20e3, 30e3, 45e3), 10) == [(45e3, 5)] + [
        (b, 1) for b in (30e3, 20e3, 15e3, 10e3, 6e3, 3e3)
    ]
    assert path_stages((5e3,), 1) == [(5e3, 1)]
    with pytest.raises(ConfigError, match="needs budgets"):
        path_stages((), 10)


def test_path_method_needs_budgets(tiny_cfg) -> None:
    with pytest.raises(ConfigError, match="traces budgets"):
        SweepConfig(methods=("joint-path",), strengths=(0.1,))
    with pytest.raises(ConfigError, match="traces a front in one search"):
        run(replace(tiny_cfg, method="joint-path", budget=5000.0))
    assert not Path(tiny_cfg.out_dir).exists() or not any(Path(tiny_cfg.out_dir).iterdir())  # nothing written


def test_path_sweep_saves_one_architecture_per_budget_within_it(tiny_cfg) -> None:
    budgets = (9000.0, 5000.0, 2500.0)
    base = replace(tiny_cfg, search_epochs=4, finetune_epochs=1)
    folder, results = sweep(base, SweepConfig(methods=("joint-path",), budgets=budgets))
    search_dir = folder / "path-search"
    stages = sorted((search_dir / "stages").iterdir())
    assert len(stages) == len(budgets)
    by_budget = {r["budget"]: r for r in results}
    assert set(by_budget) == set(budgets)
    for r in results:
        assert r["method"] == "joint-path"
        assert 0.9 * r["budget"] <= r["costs"]["size"] <= r["budget"]  # within, and filled
        assert r["epochs"]["search"] == 0  # the search happened once, in path-search
    saved = {Architecture.load(s / "arch.json").meta["path_budget"]: Architecture.load(s / "arch.json") for s in stages}
    points = [p for p in folder.iterdir() if (p / "metrics.json").exists() and p.name != "warmup"]
    assert len(points) == len(budgets)
    for p in points:  # each point fine-tunes exactly the architecture its stage saved
        arch = Architecture.load(p / "arch.json")
        assert arch.weight_bits == saved[arch.meta["path_budget"]].weight_bits
        metrics = json.loads((p / "metrics.json").read_text())
        assert evaluate(load_model(p), load_data(base).test) == metrics["test_acc"]  # model.pt rebuilds
    with (search_dir / "history.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["phase"].startswith("path-")]
    assert len(rows) == sum(e for _, e in path_stages(budgets, 4))  # 2 + 1 + 1 epochs, one search
    assert [float(r["budget"]) for r in rows] == [9000.0, 9000.0, 5000.0, 2500.0]
