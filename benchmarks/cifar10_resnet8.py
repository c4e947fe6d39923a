"""Headline benchmark: MLPerf Tiny ResNet-8 on CIFAR-10, every method, a memory and a latency target.

    python benchmarks/cifar10_resnet8.py --preset cpu     # ~2 h on 2 CPU cores, resumable: re-run to continue
    python benchmarks/cifar10_resnet8.py --preset paper   # full data, hundreds of epochs: for a GPU

Data: ../shared/data/cifar10 (ImageFolder trees) when present, else torchvision's download
(--set download=true). Both targets' sweeps start from one shared float warm-up. Writes
results/cifar10_resnet8/: points.csv (one row per method, target and point), the Pareto
PNGs and CSVs made by reports.pareto, and table.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd

from reports.pareto import collect, pareto_report
from search.config import load_config, read_toml
from search.rundir import atomic_write_text
from search.sweep import SweepConfig, sweep

ROOT = Path(__file__).resolve().parents[1]
LATENCY = {
    "mpic": "latency_mpic",
    "gap8": "latency_gap8",
    "gap9_ne16": "latency_ne16",
    "stm32h7": "latency_cortexm",
    "stm32l4": "latency_cortexm",
}


def run_benchmark(
    preset: str,
    runs: Path,
    out: Path,
    overrides: list[str],
    latency_target: str = "mpic",
    latency_methods: tuple[str, ...] = ("joint", "uniform"),
    sweep_overrides: dict | None = None,
) -> pd.DataFrame:
    """Both sweeps (resuming whatever exists under `runs`), then the tables and plots in `out`."""
    config = ROOT / "configs" / f"cifar10_resnet8_{preset}.toml"
    base = load_config(config, [f"out_dir={runs}", "progress=false", *overrides])
    spec = SweepConfig.from_dict({**read_toml(config)["sweep"], **(sweep_overrides or {})})
    folders = []
    memory = replace(spec, name=f"cifar10-resnet8-{preset}-generic")
    folders.append(_sweep(replace(base, target="generic", cost="size"), memory, runs))
    warm = folders[0] / "warmup" / "checkpoints" / "warmup.pt"
    latency = replace(spec, methods=latency_methods, name=f"cifar10-resnet8-{preset}-{latency_target}")
    folders.append(_sweep(replace(base, target=latency_target, cost=LATENCY[latency_target]), latency, runs, warm))
    out.mkdir(parents=True, exist_ok=True)
    df = collect(folders)
    for cost, folder in (("size", folders[0]), ("search", folders[1])):
        csv, png = pareto_report([folder], cost, folder, title=f"ResNet-8, CIFAR-10 ({preset} preset)")
        stem = f"{folder.name.rsplit('-', 1)[-1]}_{cost}"
        shutil.copy(csv, out / f"pareto_{stem}.csv")
        shutil.copy(png, out / f"pareto_{stem}.png")
    keep = ["target", "method", "strength", "budget", "test_acc", "float_test_acc", "cost_name", "cost"]
    keep += sorted(c for c in df.columns if c.startswith("cost:"))
    df["epochs"] = f"{base.warmup_epochs}+{base.search_epochs}+{base.finetune_epochs}"
    df["wall_seconds_search"] = [
        json.loads((Path(r) / "metrics.json").read_text())["seconds"]["search"] for r in df["run"]
    ]
    df["wall_seconds_finetune"] = [
        json.loads((Path(r) / "metrics.json").read_text())["seconds"]["finetune"] for r in df["run"]
    ]
    table = df[keep + ["epochs", "wall_seconds_search", "wall_seconds_finetune"]].sort_values(
        ["target", "method", "cost"]
    )
    atomic_write_text(out / "points.csv", table.to_csv(index=False))
    return table


def _sweep(base, spec: SweepConfig, runs: Path, warm: Path | None = None) -> Path:
    folder = runs / spec.name
    resume = folder if (folder / "sweep.json").exists() else None
    done, _ = sweep(base, spec, resume=resume, warm_state=warm)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "cifar10_resnet8")
    parser.add_argument("--latency-target", default="mpic", choices=sorted(LATENCY))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    table = run_benchmark(args.preset, args.runs, args.out, args.set, args.latency_target)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
