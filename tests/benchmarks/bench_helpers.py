"""What the benchmark code-path tests share: importing a script from benchmarks/, a tiny CIFAR-10 tree."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/<name>.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_cifar(root: Path, per_class: int) -> None:
    """An ImageFolder tree in CIFAR-10's layout: train/<class>/*.png, test/<class>/*.png (2 per class)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", 2)):
        for k, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 60, (32, 32, 3)) + 19 * k  # class-dependent colour
                Image.fromarray(pixels.astype(np.uint8)).save(root / split / name / f"{i:04d}.png")
