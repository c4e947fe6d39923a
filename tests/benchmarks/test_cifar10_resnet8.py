"""The CIFAR-10 / ResNet-8 benchmark's code path on a tiny generated ImageFolder, so it cannot rot."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _benchmark():
    spec = importlib.util.spec_from_file_location("cifar10_resnet8", ROOT / "benchmarks" / "cifar10_resnet8.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_cifar(root: Path, per_class: int) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", 2)):
        for k, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 60, (32, 32, 3)) + 19 * k  # class-dependent colour
                Image.fromarray(pixels.astype(np.uint8)).save(root / split / name / f"{i:04d}.png")


def test_cpu_preset_code_path_on_a_tiny_slice(tmp_path):
    _tiny_cifar(tmp_path / "cifar", per_class=6)
    overrides = [f"data_root={tmp_path / 'cifar'}", "train_subset=40", "warmup_epochs=1", "search_epochs=1",
                 "finetune_epochs=1", "batch_size=20"]  # fmt: skip
    table = _benchmark().run_benchmark(
        "cpu", tmp_path / "runs", tmp_path / "out", overrides,
        sweep_overrides={"strengths": [0.1], "methods": ["joint", "uniform"], "uniform_bits": [8]},
    )  # fmt: skip
    assert set(table["target"]) == {"generic", "mpic"}
    assert set(table["method"]) == {"joint", "uniform-w8"}
    points = pd.read_csv(tmp_path / "out" / "points.csv")
    assert len(points) == 4 and {"test_acc", "cost:size", "wall_seconds_search", "epochs"} <= set(points.columns)
    for name in ("pareto_generic_size.png", "pareto_mpic_search.png", "pareto_generic_size.csv"):
        assert (tmp_path / "out" / name).is_file(), name
    # both sweeps started from the one warm-up: the latency sweep has none of its own
    assert not (tmp_path / "runs" / "cifar10-resnet8-cpu-mpic" / "warmup").exists()
