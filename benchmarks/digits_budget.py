"""A tight budget on digits: joint search at N bytes, per seed (the issue-10 collapse case: 3 kB).

    python benchmarks/digits_budget.py --budgets 3kB --seeds 0,1      # ~5 min per point on 1 core

digits_cnn on scikit-learn's digits, target generic, cost size, bitgate's default schedule
(10 warm-up + 20 search + 10 fine-tune epochs). Prints one line per point and writes
results/digits_budget/points.csv: budget, seed, size of the result, test accuracy, float accuracy,
the final strength.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import torch

from search.config import load_config, parse_quantity
from search.run import run
from search.rundir import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="3kB")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "digits_budget")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for budget in (parse_quantity(b) for b in args.budgets.split(",")):
            for seed in (int(s) for s in args.seeds.split(",")):
                cfg = load_config(
                    None,
                    [
                        "model=digits_cnn",
                        "dataset=digits",
                        "target=generic",
                        "cost=size",
                        f"budget={budget}",
                        f"seed={seed}",
                        f"out_dir={runs}",
                        "progress=false",
                        *args.set,
                    ],
                )
                m = run(cfg)
                rows.append(
                    {
                        "budget": budget,
                        "seed": seed,
                        "size": m["costs"]["size"],
                        "test_acc": m["test_acc"],
                        "float_test_acc": m["float_test_acc"],
                        "final_strength": m.get("search_final_strength"),
                    }
                )
                print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "points.csv", pd.DataFrame(rows).to_csv(index=False))


if __name__ == "__main__":
    main()
