"""Train-step overhead of the supernet over the float model (issue 2, "Benchmark").

Median wall time of one training step (forward + backward + SGD step) of ResNet-8 on random
3x32x32 data at batch 128: the supernet (weights {0, 2, 4, 8}, activations 8 bits, soft gates)
divided by the float model's. All networks are measured interleaved in one process (float step,
supernet step, float step, ...) so that load from other processes hits them alike; the load
average is recorded with the result. Besides the default conversion (`to_supernet` defaults:
BatchNorm folded into the layers), the variant with BatchNorm kept after the gate
(`fold_bn=False`) is measured.

    PYTHONPATH=. .venv/bin/python benchmarks/supernet_overhead.py [--steps 30] [--warmup 5] [--threads 2,1]

Writes results/supernet_overhead.json: one run per thread count. On a 2-core machine shared with
other jobs, two OpenMP threads wait for each other at every parallel op, which swamps the
measurement (the float step itself gets several times slower than on one thread); the one-thread
run is the load-robust figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from supernet import to_supernet
from zoo.models import create_model

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.05  # issue 24: the supernet step within 5% of the float step on the CPU


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], float]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> float:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def measure(batch: int = 128, steps: int = 30, warmup: int = 5, threads: int = 2, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    float_model = create_model("resnet8", 10, (3, 32, 32)).train()
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    variants = {"supernet": {}, "supernet_bn_after_gate": {"fold_bn": False}}
    models = {"float": float_model}
    for name, kwargs in variants.items():
        net = to_supernet(float_model, x, bits=(0, 2, 4, 8), act_bits=(8,), **kwargs).train()
        net.set_sampling("soft")
        models[name] = net
    steps_of = {name: make_step(model, x, y) for name, model in models.items()}
    times: dict[str, list[float]] = {name: [] for name in steps_of}
    load_before = os.getloadavg()
    for i in range(warmup + steps):
        for name, step in steps_of.items():
            t = step()
            if i >= warmup:
                times[name].append(t)
    load_after = os.getloadavg()
    median = {name: statistics.median(t) for name, t in times.items()}
    return {
        "model": "resnet8",
        "input": [batch, 3, 32, 32],
        "weight_bits": [0, 2, 4, 8],
        "act_bits": [8],
        "sampling": "soft",
        "optimizer": "SGD(momentum=0.9)",
        "threads": threads,
        "warmup_steps": warmup,
        "measured_steps": steps,
        "median_step_s": median,
        "ratio": {name: median[name] / median["float"] for name in variants},
        "variants": {name: kwargs or "to_supernet defaults" for name, kwargs in variants.items()},
        "load_average_1min": [load_before[0], load_after[0]],
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", default="2,1", help="comma-separated torch thread counts, one run each")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "supernet_overhead.json")
    args = parser.parse_args()
    runs = []
    for threads in (int(t) for t in args.threads.split(",")):
        result = measure(args.batch, args.steps, args.warmup, threads)
        runs.append(result)
        print(f"threads={threads}")
        for name, seconds in result["median_step_s"].items():
            print(f"  {name:24s} median step {seconds * 1e3:8.1f} ms")
        for name, ratio in result["ratio"].items():
            print(f"  {name:24s} ratio {ratio:.3f}x (goal <= {GOAL}x)")
        before, after = result["load_average_1min"]
        print(f"  load average (1 min) before/after: {before:.2f} / {after:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"goal_ratio": GOAL, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
