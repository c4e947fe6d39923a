"""The CIFAR-10 latency benchmark's code path (MPIC with searched activation bits, NE16) on a tiny slice."""

from __future__ import annotations

import pandas as pd
import pytest
from bench_helpers import load_benchmark, tiny_cifar


@pytest.mark.slow  # two tiny end-to-end sweeps; test_cifar10_resnet8 keeps the CIFAR-10 path in the default suite
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
    bench = load_benchmark("cifar10_latency")
    # two processes' share of the work, one target each: the second's table covers both
    first = bench.run_benchmark(
        "cpu", tmp_path / "runs", tmp_path / "out", overrides, strengths=(0.1,), uniform_bits=(4,), only=("gap9_ne16",)
    )
    assert set(first["target"]) == {"gap9_ne16"}
    table = bench.run_benchmark(
        "cpu", tmp_path / "runs", tmp_path / "out", overrides, strengths=(0.1,), uniform_bits=(4,), only=("mpic",)
    )
    assert set(table["target"]) == {"mpic", "gap9_ne16"}
    mpic = table[table["target"] == "mpic"]
    assert set(mpic["label"]) == {"joint a248", "joint a8", "uniform w4a4"}
    assert set(table[table["target"] == "gap9_ne16"]["label"]) == {"joint a8", "uniform w4a8"}
    assert set(mpic["cost_name"]) == {"latency_mpic"} and table["fits"].all()
    points = pd.read_csv(tmp_path / "out" / "points.csv")
    assert len(points) == 5 and {"cost:peak_activation_ram", "cost:memory"} <= set(points.columns)
    for name in ("front_mpic.png", "front_gap9_ne16.png"):
        assert (tmp_path / "out" / name).is_file(), name
    # every sweep started from the one shared warm-up
    assert [p.name for p in (tmp_path / "runs").glob("*/warmup")] == ["warmup"]
