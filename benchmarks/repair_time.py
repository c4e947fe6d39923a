"""How long the budget repair takes on a 50-layer network: tv:mobilenet_v2 (CIFAR-10 input), 2.36 MB -> 1 MB.

The supernet's initial gates put every channel at 8 bits (alpha[b] = b / max(B)), whose `memory` on the
generic target is 2,356,154 B: where a budget search at 1 MB ended in issue 24's measurement. The repair
shrinks it to the budget (thousands of one-channel moves), then grows back towards a 1.2 MB budget.
Reported: seconds, moves, and the result's cost priced once on the whole network (the budget check).

    PYTHONPATH=. .venv/bin/python benchmarks/repair_time.py [--budget 1e6] [--threads 1]
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--budget", type=float, default=1e6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = to_supernet(create_model(args.model, 10, (3, 32, 32)), torch.randn(8, 3, 32, 32), bits=(0, 2, 4, 8))
    arch = discretize(net, {})
    target = get_target("generic")
    start = price(net, arch, args.cost, target)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    small = repair(net, arch, args.cost, target, args.budget, lambda c: max(1, -(-c // 8)))
    t1 = time.perf_counter()
    big = grow(net, small, args.cost, target, 1.2 * args.budget)
    t2 = time.perf_counter()
    moves = sum(a != b for n in net.layer_names for a, b in zip(arch.weight_bits[n], small.weight_bits[n], strict=True))
    print(f"{args.model}: {len(net.layer_names)} layers, {args.cost} {start:,.0f} -> budget {args.budget:,.0f}, "
          f"load {load:.2f} -> {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"  repair {t1 - t0:6.2f} s: {price(net, small, args.cost, target):,.0f} B, {moves:,} channels moved")
    print(f"  grow   {t2 - t1:6.2f} s: {price(net, big, args.cost, target):,.0f} B (budget {1.2 * args.budget:,.0f})")


if __name__ == "__main__":
    main()
