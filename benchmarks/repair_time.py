"""How long the budget repair takes on a 50-layer network: tv:mobilenet_v2 (CIFAR-10 input), 2.36 MB -> 1 MB.

The supernet's initial gates put every channel at its top bits (alpha[b] = b / max(B)), whose `memory` on the
generic target is 2,356,154 B: where a budget search at 1 MB ended in issue 24's measurement. The repair
shrinks it to the budget (thousands of one-channel moves), then grows back towards 1.2x the budget.
Reported: seconds, moves, and the result's cost priced once on the whole network (the budget check).
`--fraction 0.4` sets the budget to 40% of the start cost instead (e.g. a latency budget: `--cost
latency_cortexm --target stm32l4`); the weight options are the target's.

    PYTHONPATH=. .venv/bin/python benchmarks/repair_time.py [--budget 1e6 | --fraction 0.4] [--model resnet8]
        [--cost memory] [--target generic] [--no-grow] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import torch

from search.constraints.pricer import price
from search.constraints.repair import grow, repair
from supernet import discretize, to_supernet
from targets import get_target
from zoo.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tv:mobilenet_v2")
    parser.add_argument("--cost", default="memory")
    parser.add_argument("--target", default="generic")
    parser.add_argument("--budget", type=float, default=1e6)
    parser.add_argument("--fraction", type=float, default=None, help="budget = this fraction of the start cost")
    parser.add_argument("--no-grow", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="  %(message)s")  # the repair's progress lines
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    target = get_target(args.target)
    bits = tuple(sorted({0, *target.weight_bits}))
    net = to_supernet(create_model(args.model, 10, (3, 32, 32)), torch.randn(8, 3, 32, 32), bits=bits)
    arch = discretize(net, {})
    start = price(net, arch, args.cost, target)
    budget = args.budget if args.fraction is None else args.fraction * start
    load = os.getloadavg()[0]
    print(
        f"{args.model}: {len(net.layer_names)} layers, {args.cost} on {args.target} {start:,.0f} -> budget "
        f"{budget:,.0f}, load {load:.2f}",
        flush=True,
    )
    t0 = time.perf_counter()
    small = repair(net, arch, args.cost, target, budget, lambda c: max(1, -(-c // 8)))
    t1 = time.perf_counter()
    moves = sum(a != b for n in net.layer_names for a, b in zip(arch.weight_bits[n], small.weight_bits[n], strict=True))
    print(
        f"  repair {t1 - t0:6.2f} s: {price(net, small, args.cost, target):,.0f}, {moves:,} channels moved "
        f"(load now {os.getloadavg()[0]:.2f})",
        flush=True,
    )
    if not args.no_grow:
        t1 = time.perf_counter()
        big = grow(net, small, args.cost, target, 1.2 * budget)
        t2 = time.perf_counter()
        print(f"  grow   {t2 - t1:6.2f} s: {price(net, big, args.cost, target):,.0f} (budget {1.2 * budget:,.0f})")


if __name__ == "__main__":
    main()
