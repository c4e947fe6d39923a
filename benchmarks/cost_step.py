"""What one cost model adds to a search step: its operations and CPU time, soft forward + backward.

A search step prices the supernet's soft choices and differentiates the cost; on a GPU each dispatched
operation is a kernel launch, so the count (search/opcount.py's OpCounter, the same on every device) is
what a GPU step pays, and the CPU time what this machine pays. Random gates (alpha + N(0, 1)), seeded.

    PYTHONPATH=. .venv/bin/python benchmarks/cost_step.py [--model resnet8] [--target stm32l4]
        [--cost latency_cortexm] [--repeat 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import cost_models
from search.opcount import OpCounter, summary
from search.pricing import layer_choices
from supernet import to_supernet
from targets import get_target
from zoo.models import create_model
from zoo.registry import model_entry


def step(net, cost: str, target) -> None:
    """One pricing of the live choices and its backward (as the search's penalty does)."""
    value = cost_models.evaluate(cost, layer_choices(net), target)
    value.backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--target", default="stm32l4")
    parser.add_argument("--cost", default="latency_cortexm")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    target = get_target(args.target)
    entry = model_entry(args.model)
    shape = entry.input_shape if entry is not None and entry.input_shape else (3, 32, 32)  # tv: models: CIFAR-10
    net = to_supernet(create_model(args.model, 10, shape), torch.randn(4, *shape), bits=tuple(target.weight_bits))
    with torch.no_grad():
        for g in net.all_gates():
            g.alpha.add_(torch.randn_like(g.alpha))
    step(net, args.cost, target)  # plans, caches
    with OpCounter() as counter:
        step(net, args.cost, target)
    times = []
    load = os.getloadavg()[0]
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        step(net, args.cost, target)
        times.append(time.perf_counter() - t0)
    ops = summary(counter.counts)
    median, best = 1e3 * statistics.median(times), 1e3 * min(times)
    print(
        f"{args.model} {args.cost} on {args.target}: {ops['ops']:,} ops, {ops['syncs']} syncs, "
        f"{ops['host_tensors']} host tensors; median {median:.1f} ms, min {best:.1f} ms over {args.repeat} "
        f"(load {load:.2f} -> {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
