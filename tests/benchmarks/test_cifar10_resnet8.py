"""The CIFAR-10 / ResNet-8 benchmark's code path on a tiny generated ImageFolder, so it cannot rot."""

from __future__ import annotations

import pandas as pd
from bench_helpers import load_benchmark, tiny_cifar


def test_cpu_preset_code_path_on_a_tiny_slice(tmp_path):
    tiny_cifar(tmp_path / "cifar", per_class=6)
    overrides = [
        f"data_root={tmp_path / 'cifar'}",
        "train_subset=40",
        "warmup_epochs=1",
        "search_epochs=1",
        "finetune_epochs=1",
        "batch_size=20",
    ]
    table = load_benchmark("cifar10_resnet8").run_benchmark(
        "cpu",
        tmp_path / "runs",
        tmp_path / "out",
        overrides,
        sweep_overrides={"strengths": [0.1], "methods": ["joint", "uniform"], "uniform_bits": [8]},
    )
    assert set(table["target"]) == {"generic", "mpic"}
    assert set(table["method"]) == {"joint", "uniform-w8"}
    points = pd.read_csv(tmp_path / "out" / "points.csv")
    assert len(points) == 4 and {"test_acc", "cost:size", "wall_seconds_search", "epochs"} <= set(points.columns)
    for name in ("pareto_generic_size.png", "pareto_mpic_search.png", "pareto_generic_size.csv"):
        assert (tmp_path / "out" / name).is_file(), name
    # both sweeps started from the one warm-up: the latency sweep has none of its own
    assert not (tmp_path / "runs" / "cifar10-resnet8-cpu-mpic" / "warmup").exists()
