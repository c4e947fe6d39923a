"""Training throughput of the real loop, per phase: the float warm-up, the supernet search and the fine-tune.

Each phase runs as a run runs it (search/probe.py: search.train's loops with the data on the device, crop
and flip augmentation, the cost penalty and its strength controllers, argmax pricing, the epoch's
evaluation, checkpoints), on ResNet-8 and random CIFAR-10-shaped images. Reported per phase:
steps/s and images/s (wall time of whole epochs, evaluation included), and from a separate counted pass
(search/opcount.py, between consecutive optimizer steps) operations per step, host syncs per step and how
many of those the optimizers make themselves. The three phases run one after the other `--repeats`
times in this process, so load hits them alike; medians are reported with the search/float and
fine-tune/float step-time ratios. On CUDA the device is synchronized at the phase boundaries only.

    PYTHONPATH=. .venv/bin/python benchmarks/throughput.py [--device auto] [--mode budget] [--batch 128]
        [--steps 20] [--repeats 3] [--threads 1] [--compile default] [--estimate configs/cifar10_resnet8_paper.toml]

--estimate prints what a sweep config's epochs cost on this device at the measured speeds. --mode: strength
(fixed strength), budget (a Flash budget), ram (Flash + RAM budgets, the cmsis-nn plan) (search/probe.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from search.config import load_config, read_toml
from search.device import resolve_device
from search.opcount import StepCounter
from search.probe import MODES, PHASES, probe_config, random_splits, run_phases
from search.sweep import SweepConfig

CIFAR10_TRAIN = 50_000


def counted(mode: str, batch: int, device: torch.device, compile_mode: str) -> dict[str, dict[str, int]]:
    """Per phase, the steady-state step's counts (the last window of a short run)."""
    out: dict[str, dict[str, int]] = {}

    def count(phase, fn):
        with StepCounter() as counter:
            fn()
        out[phase] = counter.per_step()[-1]

    cfg = probe_config(mode, batch, device=str(device), compile=compile_mode)
    run_phases(cfg, random_splits(4, batch, device=device), device, count)
    return out


def timed(mode: str, batch: int, steps: int, repeats: int, device: torch.device, compile_mode: str) -> list[dict]:
    """Wall seconds of each phase (one epoch of `steps` steps, its evaluation included), `repeats` times."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    data = random_splits(steps, batch, device=device)
    cfg = probe_config(mode, batch, device=str(device), compile=compile_mode)
    rounds: list[dict[str, float]] = []

    def clock(phase, fn):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        rounds[-1][phase] = time.perf_counter() - t0

    for _ in range(repeats):
        rounds.append({})
        run_phases(cfg, data, device, clock)
    return rounds


def summarize(rounds: list[dict], counts: dict[str, dict[str, int]], batch: int, steps: int) -> dict:
    phases = {}
    for phase in PHASES:
        s = statistics.median(r[phase] for r in rounds)
        phases[phase] = {"seconds": s, "steps_per_s": steps / s, "images_per_s": steps * batch / s, **counts[phase]}
    ratio = {f"{p}/warmup": statistics.median(r[p] / r["warmup"] for r in rounds) for p in ("search", "finetune")}
    return {"phases": phases, "step_time_ratio": ratio}


def estimate_hours(config: Path, phases: dict) -> dict:
    """Hours of the config's sweep at the measured images/s: one float warm-up, then search + fine-tune per point."""
    base = load_config(config)
    spec = SweepConfig.from_dict(dict(read_toml(config).get("sweep", {})))
    points = len(spec.points(base))
    train = base.train_subset or round(CIFAR10_TRAIN * (1 - (base.val_fraction or 0.1)))
    warm = base.warmup_epochs * train / phases["warmup"]["images_per_s"]
    point = train * (
        base.search_epochs / phases["search"]["images_per_s"]
        + base.finetune_epochs / phases["finetune"]["images_per_s"]
    )
    return {
        "config": str(config),
        "points": points,
        "train_images": train,
        "warmup_h": warm / 3600,
        "per_point_h": point / 3600,
        "total_h": (warm + points * point) / 3600,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--mode", default="budget", choices=tuple(MODES))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="training steps per phase (one epoch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--compile", default="", help="torch.compile mode of every phase's module ('' = off)")
    parser.add_argument("--estimate", type=Path, help="a sweep config to price at the measured speeds")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    load_before = os.getloadavg()[0]
    counts = counted(args.mode, args.batch, device, args.compile)
    result = summarize(
        timed(args.mode, args.batch, args.steps, args.repeats, device, args.compile), counts, args.batch, args.steps
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    result.update(
        {
            "device": str(device),
            "device_name": name,
            "mode": args.mode,
            "batch": args.batch,
            "steps": args.steps,
            "repeats": args.repeats,
            "threads": torch.get_num_threads(),
            "compile": args.compile,
            "load_average_1min": [load_before, os.getloadavg()[0]],
            "torch": torch.__version__,
        }
    )
    print(
        f"device {device} ({name}), mode {args.mode}, batch {args.batch}, torch threads {torch.get_num_threads()}, "
        f"compile {args.compile or 'off'}, load {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    for phase, r in result["phases"].items():
        print(
            f"  {phase:8s} {r['steps_per_s']:7.2f} steps/s {r['images_per_s']:8.0f} img/s   {r['ops']:5d} ops/step "
            f"{r['syncs']:4d} syncs/step ({r['optimizer_syncs']} in the optimizers)"
        )
    for key, value in result["step_time_ratio"].items():
        print(f"  time {key}: {value:.2f}x")
    if args.estimate:
        est = estimate_hours(args.estimate, result["phases"])
        result["estimate"] = est
        print(
            f"ESTIMATE for {est['config']} on this device: warm-up {est['warmup_h']:.2f} h, "
            f"{est['per_point_h']:.2f} h per point x {est['points']} points = {est['total_h']:.1f} h in total "
            f"(one device; a Ray sweep over K devices divides the points' share by K)"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
