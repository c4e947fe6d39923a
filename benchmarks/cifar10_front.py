"""Search quality at every budget: ResNet-8 on CIFAR-10, the 2-core protocol of configs/cifar10_resnet8_front.toml.

    python benchmarks/cifar10_front.py            # resumable: re-run to continue where it stopped
    python benchmarks/cifar10_front.py --only uniform,joint-tight   # some groups only

One float warm-up (20 epochs) is shared by every point; each point then runs 10 search + 5
fine-tune epochs (uniform: 10 + 5 QAT). Groups run in this order, so an interrupted run has the
most telling points first:
  uniform      w2, w4, w8
  joint-tight  joint at 15 and 6 kB
  joint        joint at 30, 10, 45, 20 and 3 kB
  path         joint-path (one search for all seven budgets)
  sequential   prune-then-mps at 30, 15 and 6 kB
  channel-mps  channel-mps at 30 kB (it prunes nothing: 19,340 B at 2 bits is its floor, so 15 and 6 kB
               are refused before training)
  recipe       joint at 15 and 6 kB with the seed's recipe (weight decay 1e-4, SGD+momentum gates,
               cosine learning rate, best-validation fine-tune) against the default's joint-tight
Writes results/cifar10_front/: points.csv (every finished point: accuracy, costs, epochs, wall
seconds), pareto_size.{csv,png} (recipe points are in points.csv only: the plot's joint is the default).
Two processes can share the work on two cores (OMP_NUM_THREADS=1 each, different --only groups).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from reports.pareto import collect, fronts, plot
from search.config import load_config, parse_quantity
from search.rundir import atomic_write_text
from search.sweep import SweepConfig, sweep
from search.warm_start import shared_warmup

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "cifar10_resnet8_front.toml"
ALL_BUDGETS = ("45kB", "30kB", "20kB", "15kB", "10kB", "6kB", "3kB")
GROUPS: dict[str, dict] = {
    "uniform": {"methods": ("uniform",), "uniform_bits": (2, 4, 8)},
    "joint-tight": {"methods": ("joint",), "budgets": ("15kB", "6kB")},
    "joint": {"methods": ("joint",), "budgets": ("30kB", "10kB", "45kB", "20kB", "3kB")},
    "path": {"methods": ("joint-path",), "budgets": ALL_BUDGETS},
    "sequential": {"methods": ("prune-then-mps",), "budgets": ("30kB", "15kB", "6kB")},
    "channel-mps": {"methods": ("channel-mps",), "budgets": ("30kB",)},
    "recipe": {
        "methods": ("joint",),
        "budgets": ("15kB", "6kB"),
        "set": ("weight_decay=1e-4", "arch_optimizer=sgd", "lr_schedule=cosine", "select_best=true"),
    },
}
SEED_RECIPE = "recipe"


def run_benchmark(
    runs: Path,
    out: Path,
    overrides: list[str],
    only: tuple[str, ...] = tuple(GROUPS),
    subset: tuple[str, ...] | None = None,
    methods: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    base = load_config(CONFIG, [f"out_dir={runs}", "progress=false", *overrides])
    warm_dir = runs / "cifar10-front" / "warmup"
    warm_dir.mkdir(parents=True, exist_ok=True)
    warm = shared_warmup(base, warm_dir)
    folders = []
    for group in only:
        spec = GROUPS[group]
        budgets = tuple(parse_quantity(b) for b in spec.get("budgets", ()))
        if subset is not None and budgets:  # in the order given: the most telling first
            budgets = tuple(parse_quantity(b) for b in subset if parse_quantity(b) in budgets)
            if not budgets:
                continue
        chosen = tuple(m for m in spec["methods"] if methods is None or m in methods)
        if not chosen:
            continue
        group_base = load_config(CONFIG, [f"out_dir={runs}", "progress=false", *overrides, *spec.get("set", ())])
        sweep_spec = SweepConfig(
            methods=chosen, budgets=budgets, uniform_bits=spec.get("uniform_bits", (8,)), name=f"cifar10-front-{group}"
        )
        folder = runs / sweep_spec.name
        resume = folder if (folder / "sweep.json").exists() else None
        done, _ = sweep(group_base, sweep_spec, resume=resume, warm_state=warm)
        folders.append(done)
        report(folders, out, base)
    return report(folders, out, base)


def report(
    folders: list[Path], out: Path, base, earlier: Path | None = None, measured: str = "this run"
) -> pd.DataFrame:
    """points.csv and the Pareto plot of every finished point so far.

    earlier: a previous output folder (its points.csv and pareto_size.csv); its points that were not
    run again here are kept with their own `measured` label (`earlier` where it had none), so one
    protocol's front can be assembled from several runs of the same code and warm-up (the warm-up
    and the uniform points reproduce exactly). measured: the label of this run's points."""
    out.mkdir(parents=True, exist_ok=True)
    df = collect(folders)
    df["recipe"] = ["seed" if Path(r).parent.name.endswith(SEED_RECIPE) else "default" for r in df["run"]]
    metrics = [json.loads((Path(r) / "metrics.json").read_text()) for r in df["run"]]
    df["wall_seconds"] = [round(sum(m["seconds"].values()), 1) for m in metrics]
    df["epochs"] = ["+".join(str(v) for v in m["epochs"].values()) for m in metrics]
    df["measured"] = measured
    front = df[df["recipe"] == "default"].drop(columns=["recipe", "wall_seconds", "epochs", "measured"])
    if earlier is not None:
        old_front = pd.read_csv(earlier / "pareto_size.csv").drop(columns=["on_front", "options"], errors="ignore")
        old_points = pd.read_csv(earlier / "points.csv")
        new_keys = set(zip(df["method"], df["cost"], strict=True))
        old_front = old_front[
            [(m, c) not in new_keys for m, c in zip(old_front["method"], old_front["cost"], strict=True)]
        ]
        old_points = old_points[
            [(m, c) not in new_keys for m, c in zip(old_points["method"], old_points["cost"], strict=True)]
        ]
        front = pd.concat([front, old_front.assign(method_options=[{}] * len(old_front))], ignore_index=True)
        old_points = old_points.assign(
            recipe=old_points.get("recipe", "default"), measured=old_points.get("measured", "earlier")
        )
        df = pd.concat([df, old_points], ignore_index=True)
    front = fronts(front, "size")
    table = front.drop(columns=["method_options"]).assign(options=front["method_options"].map(json.dumps))
    atomic_write_text(out / "pareto_size.csv", table.sort_values(["method", "cost"]).to_csv(index=False))
    if len(front):  # a recipe-only run has no default point to plot yet
        plot(front, "size", out / "pareto_size.png", title="ResNet-8, CIFAR-10 (2-core protocol)")
    keep = [
        c
        for c in (
            "method",
            "recipe",
            "budget",
            "test_acc",
            "float_test_acc",
            "cost",
            "epochs",
            "wall_seconds",
            "measured",
        )
        if c in df.columns
    ]
    keep += sorted(c for c in df.columns if c.startswith("cost:"))
    table = df[keep].sort_values(["method", "recipe", "cost"])
    atomic_write_text(out / "points.csv", table.to_csv(index=False))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "cifar10_front")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"groups to run, in order: {', '.join(GROUPS)}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--budgets", help="run only these of each group's budgets, e.g. 6kB,15kB")
    parser.add_argument("--methods", help="run only these of each group's methods, e.g. channel-mps")
    parser.add_argument(
        "--report", action="store_true", help="no training: rewrite --out from every finished group under --runs"
    )
    parser.add_argument(
        "--earlier",
        type=Path,
        help="with --report: keep the points of this earlier output folder that were not run again",
    )
    parser.add_argument(
        "--measured",
        default="this run",
        help="with --report: the `measured` label of the points found under --runs (e.g. the session)",
    )
    args = parser.parse_args()
    only = tuple(g.strip() for g in args.only.split(",") if g.strip())
    unknown = [g for g in only if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group {unknown[0]!r}; known: {', '.join(GROUPS)}")
    if args.report:
        folders = [args.runs / f"cifar10-front-{g}" for g in only if (args.runs / f"cifar10-front-{g}").exists()]
        if not folders:
            parser.error(f"no finished groups under {args.runs}")
        print(report(folders, args.out, None, args.earlier, args.measured).to_string(index=False))
        return
    subset = tuple(b.strip() for b in args.budgets.split(",")) if args.budgets else None
    methods = tuple(m.strip() for m in args.methods.split(",")) if args.methods else None
    print(run_benchmark(args.runs, args.out, args.set, only, subset, methods).to_string(index=False))


if __name__ == "__main__":
    main()
