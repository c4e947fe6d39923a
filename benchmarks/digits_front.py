"""The joint search's front against uniform w8/w4/w2 on scikit-learn's digits (no download).

Runs one sweep (shared warm-up) with configs/digits_stm32h7.toml's schedule on a target that
offers 2-bit weights (default: generic, cost `size`), writes results/digits_front/ (CSV, PNG,
table.md) and prints the smallest weight memory at which the joint search matches the w8
baseline's test accuracy within 0.5 pp.

    python benchmarks/digits_front.py [--target generic] [--cost size] [--strengths 0.001,...]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

from reports.pareto import collect, fronts, pareto_report
from search.config import load_config
from search.rundir import atomic_write_text
from search.sweep import SweepConfig, sweep

ROOT = Path(__file__).resolve().parents[1]


def iso_accuracy(df: pd.DataFrame, cost: str, reference: float, tolerance: float) -> float | None:
    """Smallest cost of a joint point whose test accuracy is within `tolerance` of `reference`."""
    ok = df[(df["method"] == "joint") & (df["test_acc"] >= reference - tolerance)]
    return float(ok[f"cost:{cost}"].min()) if len(ok) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="generic")
    parser.add_argument("--cost", default="size")
    parser.add_argument("--strengths", default="0.001,0.003,0.01,0.03,0.1,0.3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "digits_front")
    args = parser.parse_args()
    base = load_config(
        ROOT / "configs" / "digits_stm32h7.toml",
        [f"target={args.target}", f"cost={args.cost}", f"out_dir={args.runs}", f"seed={args.seed}", "progress=false"],
    )
    spec = SweepConfig(
        methods=("joint", "uniform"),
        strengths=tuple(float(s) for s in args.strengths.split(",")),
        uniform_bits=(8, 4, 2),
        name=f"digits-front-{args.target}-seed{args.seed}",
    )
    folder, _ = sweep(base, spec)
    csv, png = pareto_report([folder], args.cost, folder, title=f"digits_cnn on digits, {args.target}")
    df = fronts(collect([folder]), args.cost)
    w8 = float(df.loc[df["method"] == "uniform-w8", "test_acc"].iloc[0])
    w8_cost = float(df.loc[df["method"] == "uniform-w8", f"cost:{args.cost}"].iloc[0])
    match = iso_accuracy(df, args.cost, w8, 0.005)
    rows = df.sort_values(["method", f"cost:{args.cost}"])[
        ["method", "strength", f"cost:{args.cost}", "test_acc", "on_front"]
    ]
    lines = [f"| method | strength | {args.cost} (bytes) | test acc | on front |", "|---|---|---|---|---|"]
    for r in rows.itertuples(index=False):
        lines.append(f"| {r[0]} | {r[1]:g} | {r[2]:,.0f} | {100 * r[3]:.2f}% | {'yes' if r[4] else ''} |")
    summary = f"w8 baseline: {100 * w8:.2f}% at {w8_cost:,.0f} B. " + (
        f"Joint matches it within 0.5 pp at {match:,.0f} B ({100 * (1 - match / w8_cost):.1f}% smaller)."
        if match is not None
        else "No joint point is within 0.5 pp of w8."
    )
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(csv, args.out / csv.name)
    shutil.copy(png, args.out / png.name)
    atomic_write_text(args.out / "table.md", "\n".join(lines) + "\n\n" + summary + "\n")
    print("\n".join(lines))
    print(summary)


if __name__ == "__main__":
    main()
