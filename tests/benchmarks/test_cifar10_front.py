"""The search-quality benchmark's code path on a tiny generated ImageFolder, so it cannot rot."""

from __future__ import annotations

import pandas as pd
import pytest
from bench_helpers import load_benchmark, tiny_cifar


@pytest.mark.slow  # a few minutes on a loaded 2-core machine: ResNet-8 searches, repairs, fine-tunes
def test_front_protocol_code_path_on_a_tiny_slice(tmp_path, monkeypatch):
    tiny_cifar(tmp_path / "cifar", per_class=6)
    bench = load_benchmark("cifar10_front")
    monkeypatch.setitem(bench.GROUPS, "uniform", {"methods": ("uniform",), "uniform_bits": (2,)})
    monkeypatch.setitem(bench.GROUPS, "path", {"methods": ("joint-path",), "budgets": ("60kB", "30kB")})
    overrides = [f"data_root={tmp_path / 'cifar'}", "train_subset=40", "warmup_epochs=1", "search_epochs=2",
                 "finetune_epochs=1", "batch_size=20"]  # fmt: skip
    table = bench.run_benchmark(tmp_path / "runs", tmp_path / "out", overrides, only=("uniform", "path"))
    assert set(table["method"]) == {"uniform-w2", "joint-path"}
    points = pd.read_csv(tmp_path / "out" / "points.csv")
    assert len(points) == 3 and {"test_acc", "cost:size", "wall_seconds", "epochs"} <= set(points.columns)
    assert (points.loc[points["method"] == "joint-path", "cost:size"] <= 60e3).all()
    assert (tmp_path / "out" / "pareto_size.png").is_file()
    # every group started from the one shared warm-up
    assert not (tmp_path / "runs" / "cifar10-front-path" / "warmup").exists()
