"""Training throughput (images/s) of the float step and the supernet search step, on whatever device is here.

ResNet-8 on random 3x32x32 data, at batch 128 and 512. The float step is the warm-up's (Adam,
cross-entropy); the supernet step is the search's (weights {0, 2, 4, 8}, activations 8 bits, soft
gates, loss = task loss + strength * size cost, one Adam for weights and one for the gates). Each
measurement runs for about `--seconds` after a few warm-up steps (CUDA is synchronized around the
timed steps). On the CPU the ratio is the supernet overhead figure of benchmarks/supernet_overhead.py.

    PYTHONPATH=. .venv/bin/python benchmarks/throughput.py [--device auto] [--seconds 3] [--batches 128,512]
        [--amp bf16] [--estimate configs/cifar10_resnet8_paper.toml]

--estimate prints what a sweep config's epochs cost on this device at the measured speeds (an
estimate: it ignores evaluation passes, data loading and the slower start of each phase).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

import cost_models
from search.config import load_config, read_toml
from search.device import float_autocast, resolve_device
from search.pricing import layer_choices
from search.sweep import SweepConfig
from supernet import to_supernet
from targets import get_target
from zoo.models import create_model

ROOT = Path(__file__).resolve().parents[1]
CIFAR10_TRAIN = 50_000


def float_step(device: torch.device, x: torch.Tensor, y: torch.Tensor, amp: str) -> Callable[[], None]:
    model = create_model("resnet8", 10, (3, 32, 32)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with float_autocast(amp, device):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def supernet_step(device: torch.device, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    model = create_model("resnet8", 10, (3, 32, 32)).to(device)
    net = to_supernet(model, x[:64], bits=(0, 2, 4, 8), act_bits=(8,)).train()
    target = get_target("generic")
    w_opt = torch.optim.Adam(net.weight_parameters(), lr=1e-3)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=1e-2)

    def step() -> None:
        cost = cost_models.evaluate("size", layer_choices(net), target)
        loss = F.cross_entropy(net(x), y) + 0.1 * cost / 1e5
        w_opt.zero_grad(set_to_none=True)
        a_opt.zero_grad(set_to_none=True)
        loss.backward()
        w_opt.step()
        a_opt.step()

    return step


def images_per_second(step: Callable[[], None], batch: int, device: torch.device, seconds: float) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        step()
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 2:
        step()
        n += 1
        if device.type == "cuda" and n % 10 == 0:
            sync()
    sync()
    return n * batch / (time.perf_counter() - t0)


def measure(device: torch.device, batches: list[int], seconds: float, amp: str) -> list[dict]:
    rows = []
    for batch in batches:
        torch.manual_seed(0)
        x = torch.randn(batch, 3, 32, 32, device=device)
        y = torch.randint(0, 10, (batch,), device=device)
        fl = images_per_second(float_step(device, x, y, amp), batch, device, seconds)
        sn = images_per_second(supernet_step(device, x, y), batch, device, seconds)
        rows.append({"batch": batch, "float_images_per_s": fl, "supernet_images_per_s": sn, "ratio": fl / sn})
    return rows


def estimate_hours(config: Path, float_ips: float, supernet_ips: float) -> dict:
    """Hours of the config's sweep: one float warm-up, then search + fine-tune epochs per point."""
    base = load_config(config)
    spec = SweepConfig.from_dict(dict(read_toml(config).get("sweep", {})))
    points = len(spec.points(base))
    train = base.train_subset or round(CIFAR10_TRAIN * (1 - (base.val_fraction or 0.1)))
    warm = base.warmup_epochs * train / float_ips
    # fine-tuning trains the materialized fake-quantized network: priced at the supernet's speed (an upper bound)
    point = (base.search_epochs + base.finetune_epochs) * train / supernet_ips
    return {"config": str(config), "points": points, "train_images": train, "warmup_h": warm / 3600,
            "per_point_h": point / 3600, "total_h": (warm + points * point) / 3600}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    parser.add_argument("--batches", default="128,512")
    parser.add_argument("--amp", default="off", choices=("off", "bf16"), help="autocast for the float step")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--estimate", type=Path, help="a sweep config to price at the measured batch-128 speeds")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rows = measure(device, [int(b) for b in args.batches.split(",")], args.seconds, args.amp)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    result = {"device": str(device), "device_name": name, "amp": args.amp, "threads": torch.get_num_threads(),
              "load_average_1min": os.getloadavg()[0], "torch": torch.__version__, "rows": rows}  # fmt: skip
    print(f"device {device} ({name}), torch threads {torch.get_num_threads()}, amp {args.amp}")
    for r in rows:
        print(f"  batch {r['batch']:4d}: float {r['float_images_per_s']:9.0f} img/s   supernet "
              f"{r['supernet_images_per_s']:9.0f} img/s   ratio {r['ratio']:.2f}x")  # fmt: skip
    if args.estimate:
        ref = next((r for r in rows if r["batch"] == 128), rows[0])
        est = estimate_hours(args.estimate, ref["float_images_per_s"], ref["supernet_images_per_s"])
        result["estimate"] = est
        print(f"ESTIMATE for {est['config']} on this device: warm-up {est['warmup_h']:.2f} h, "
              f"{est['per_point_h']:.2f} h per point x {est['points']} points = {est['total_h']:.1f} h in total "
              f"(one device; a Ray sweep over K devices divides the points' share by K)")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
