"""Latency fronts on CIFAR-10 / ResNet-8, as in the seed paper: MPIC with searched activation bits, and NE16.

    python benchmarks/cifar10_latency.py --preset cpu     # 2-core preset, resumable: re-run to continue
    python benchmarks/cifar10_latency.py --only mpic      # two processes (OMP_NUM_THREADS=1), one target
    python benchmarks/cifar10_latency.py --only gap9_ne16 #   each, once the first has finished the warm-up

MPIC (Ottavi et al. 2020's MAC/cycle table): the joint search with per-layer activation bits
from {2, 4, 8} next to the joint search with 8-bit activations only, and the uniform
w8a8 / w4a4 / w2a2 baselines (QAT). NE16 (GAP9, PLiNIO's cycle model; 8-bit activations):
the joint search and uniform w8 / w4 / w2 (a8). Every sweep starts from one shared float
warm-up (configs/cifar10_resnet8_<preset>.toml). Writes results/cifar10_latency/:
points.csv (one row per run: target, label, accuracy, cycles, Flash, RAM, fit) and
front_mpic.png / front_gap9_ne16.png (accuracy vs cycles, one front per label).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from reports.pareto import collect, fronts, plot
from search.config import load_config
from search.rundir import atomic_write_text
from search.sweep import SweepConfig, sweep
from search.warm_start import shared_warmup

ROOT = Path(__file__).resolve().parents[1]
STRENGTHS = (0.03, 0.1, 0.3, 1.0)
UNIFORM_BITS = (8, 4, 2)
SEARCHED_ACT_BITS = (2, 4, 8)


def plan(strengths: tuple[float, ...] = STRENGTHS, uniform_bits: tuple[int, ...] = UNIFORM_BITS):
    """[(sweep name suffix, target, overrides of the base config, SweepConfig)] of the whole benchmark."""
    points = [
        ("mpic-joint-a248", "mpic", {"act_bits": SEARCHED_ACT_BITS}, SweepConfig(("joint",), strengths)),
        ("mpic-joint-a8", "mpic", {"act_bits": (8,)}, SweepConfig(("joint",), strengths)),
    ]
    for b in uniform_bits:  # wXaX: weights and activations at the same bits
        points.append((f"mpic-uniform-w{b}a{b}", "mpic", {"act_bits": (b,)}, SweepConfig(("uniform",), (), (), (b,))))
    points.append(("ne16-joint", "gap9_ne16", {"act_bits": (8,)}, SweepConfig(("joint",), strengths)))
    points.append(("ne16-uniform", "gap9_ne16", {"act_bits": (8,)}, SweepConfig(("uniform",), (), (), uniform_bits)))
    return points


def run_benchmark(
    preset: str,
    runs: Path,
    out: Path,
    overrides: list[str],
    strengths: tuple[float, ...] = STRENGTHS,
    uniform_bits: tuple[int, ...] = UNIFORM_BITS,
    only: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Every sweep of the targets in `only` (default: all; resuming whatever exists under `runs`), then
    points.csv and the front plots in `out` over every finished sweep of the plan, so that two
    processes can each run one target and the last to finish writes the whole table."""
    config = ROOT / "configs" / f"cifar10_resnet8_{preset}.toml"
    base = load_config(config, [f"out_dir={runs}", "progress=false", *overrides])
    warm_dir = runs / f"cifar10-latency-{preset}" / "warmup"  # one float warm-up shared by every sweep
    warm_dir.mkdir(parents=True, exist_ok=True)
    warm = shared_warmup(base, warm_dir)
    folders = []
    for suffix, target, changes, spec in plan(strengths, uniform_bits):
        spec = replace(spec, name=f"cifar10-latency-{preset}-{suffix}")
        folder = runs / spec.name
        if only is None or target in only:
            cfg = replace(base, target=target, cost=None, budget=None, **changes)
            resume = folder if (folder / "sweep.json").exists() else None
            folder, _ = sweep(cfg, spec, resume=resume, warm_state=warm)
        if (folder / "sweep.json").exists():
            folders.append(folder)
    return report(folders, out, preset)


def report(folders: list[Path], out: Path, preset: str) -> pd.DataFrame:
    """points.csv and one accuracy-vs-cycles plot per target, over the finished runs of `folders`."""
    df = label_runs(collect(folders))
    out.mkdir(parents=True, exist_ok=True)
    for target, part in df.groupby("target"):
        plot(fronts(part, "search"), "search", out / f"front_{target}.png", title=f"ResNet-8, CIFAR-10 ({preset})")
    keep = [
        "target",
        "label",
        "strength",
        "test_acc",
        "float_test_acc",
        "cost_name",
        "cost",
        "cost:memory",
        "cost:peak_activation_ram",
        "fits",
        "wall_seconds",
    ]
    table = df.reindex(columns=keep).sort_values(["target", "label", "cost"])
    atomic_write_text(out / "points.csv", table.to_csv(index=False))
    return table


def label_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Name each run by method and bits (joint a{2,4,8}, uniform w4a4) so that fronts do not merge."""
    labels, fits, seconds = [], [], []
    for run in df["run"]:
        cfg = json.loads((Path(run) / "config.json").read_text())
        metrics = json.loads((Path(run) / "metrics.json").read_text())
        acts = "".join(str(a) for a in cfg["act_bits"])
        if cfg["method"] == "uniform":
            labels.append(f"uniform w{cfg['uniform_bits']}a{cfg['act_bits'][-1]}")
        else:
            labels.append(f"{cfg['method']} a{acts}")
        fits.append(metrics.get("fit", {}).get("fits"))
        seconds.append(sum(metrics["seconds"].values()))
    df = df.assign(label=labels, fits=fits, wall_seconds=seconds)
    return df.assign(method=df["label"])  # the plots draw one front per method column


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "cifar10_latency")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--only",
        help="run the sweeps of these targets only (mpic, gap9_ne16); the table still covers every finished sweep",
    )
    args = parser.parse_args()
    only = tuple(args.only.split(",")) if args.only else None
    targets = {target for _, target, _, _ in plan()}
    if only is not None and not set(only) <= targets:
        parser.error(f"--only takes {', '.join(sorted(targets))}, got {args.only}")
    print(run_benchmark(args.preset, args.runs, args.out, args.set, only=only).to_string(index=False))


if __name__ == "__main__":
    main()
