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
    overrides = [
        f"data_root={tmp_path / 'cifar'}",
        "train_subset=40",
        "warmup_epochs=1",
        "search_epochs=2",
        "finetune_epochs=1",
        "batch_size=20",
    ]
    table = bench.run_benchmark(tmp_path / "runs", tmp_path / "out", overrides, only=("uniform", "path"))
    assert set(table["method"]) == {"uniform-w2", "joint-path"}
    points = pd.read_csv(tmp_path / "out" / "points.csv")
    assert len(points) == 3 and {"test_acc", "cost:size", "wall_seconds", "epochs"} <= set(points.columns)
    assert (points.loc[points["method"] == "joint-path", "cost:size"] <= 60e3).all()
    assert (tmp_path / "out" / "pareto_size.png").is_file()
    # every group started from the one shared warm-up
    assert not (tmp_path / "runs" / "cifar10-front-path" / "warmup").exists()


def _fake_run(folder, method: str, size: float, acc: float) -> None:
    import json

    folder.mkdir(parents=True)
    folder.joinpath("metrics.json").write_text(
        json.dumps(
            {
                "method": method,
                "target": "generic",
                "cost_name": "size",
                "cost": size,
                "budget": size,
                "test_acc": acc,
                "float_test_acc": 0.7,
                "costs": {"size": size},
                "seconds": {"search": 10.0, "finetune": 5.0},
                "epochs": {"warmup": 20, "search": 10, "finetune": 5},
            }
        )
    )


def test_report_keeps_the_labels_of_earlier_points(tmp_path):
    """Assembling a front from several sessions: earlier points keep their recipe and `measured`
    labels; a point measured again replaces its earlier row."""
    bench = load_benchmark("cifar10_front")
    _fake_run(tmp_path / "runs" / "cifar10-front-sequential" / "00-a", "prune-then-mps", 14990.0, 0.66)
    _fake_run(tmp_path / "runs" / "cifar10-front-joint" / "00-b", "joint", 29998.0, 0.7256)
    first = tmp_path / "first"
    bench.report([tmp_path / "runs" / "cifar10-front-joint"], first, None, measured="session 2")
    seed = pd.read_csv(first / "points.csv").assign(recipe="seed", cost=14971.0, measured="session 3")
    both = pd.concat([pd.read_csv(first / "points.csv"), seed], ignore_index=True)
    both.to_csv(first / "points.csv", index=False)
    table = bench.report(
        [tmp_path / "runs" / "cifar10-front-sequential"], tmp_path / "out", None, earlier=first, measured="session 4"
    )
    labels = {(m, r): w for m, r, w in zip(table["method"], table["recipe"], table["measured"], strict=True)}
    assert labels == {
        ("prune-then-mps", "default"): "session 4",
        ("joint", "default"): "session 2",
        ("joint", "seed"): "session 3",
    }
    front = pd.read_csv(tmp_path / "out" / "pareto_size.csv")
    assert sorted(front["method"]) == ["joint", "prune-then-mps"]  # the seed-recipe point is not on the plot
