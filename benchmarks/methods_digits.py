"""Every search method's front on scikit-learn's digits (digits_cnn), one target, one cost (issue 5).

One shared float warm-up (search.sweep.shared_warmup), then one search.run per point, with
configs/digits_stm32h7.toml's schedule on the `generic` target (it stores 1..8-bit weights, so
seed 000/002/003's odd bit-widths are priced) and cost `size` (bytes of packed weights). Each
method traces its front with its own knob:

  uniform                  uniform_bits 8, 4, 2
  joint, channel-mps, layer-mps, prune, prune-then-mps          strength
  importance (seed 000)    t_margin          twonn (seed 002)          delta_frac (Delta / largest ID)
  twonn-cluster (seed 002) clusters          admm (seed 003)           budget_frac (budget / w8 size)

and the variants of issue 14 (a label = a method + fixed method options):

  pit-then-mps (seed 001's sequential baseline with cut + fine-tune)     strength
  importance-quant / importance-prune (seed 000's variants)              t_margin
  importance-ksigma (seed 000's k-sigma weight thresholds, both)         t_margin
  twonn-thesis (seed 002's [-1, 1] activations at the layer's precision) delta_frac
  admm-unstructured (seed 003's ||W||_0; cost size_sparse)               budget_frac (>= 0.15: the
                                                                         bitmask alone is 1/8 of w8)

Besides the front in `size`, the same runs are reported in `size_sparse` (bytes when every
precision group may be stored as bitmask + non-zeros): the honest size of the sparse variants.

Writes results/methods_digits/{pareto_size.csv, pareto_size.png, README.md} and prints, per
method, the smallest size whose test accuracy is at least the w8 baseline's minus 1 pp.

    PYTHONPATH=. .venv/bin/python benchmarks/methods_digits.py [--methods admm,twonn] [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from reports.pareto import collect, fronts, pareto_report
from search.config import SearchConfig, load_config
from search.run import default_name, run
from search.rundir import atomic_write_json, atomic_write_text, new_run_dir
from search.warm_start import shared_warmup

ROOT = Path(__file__).resolve().parents[1]
STRENGTHS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
T_MARGINS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
KNOBS: dict[str, tuple[str, tuple[float, ...]]] = {
    "uniform": ("uniform_bits", (8, 4, 2)),
    "joint": ("strength", STRENGTHS),
    "channel-mps": ("strength", STRENGTHS),
    "layer-mps": ("strength", STRENGTHS),
    "prune": ("strength", STRENGTHS),
    "prune-then-mps": ("strength", STRENGTHS),
    "importance": ("t_margin", (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)),
    "twonn": ("delta_frac", (0.0, 0.05, 0.1, 0.4)),
    "twonn-cluster": ("clusters", (2, 4, 8, 16)),
    "admm": ("budget_frac", (0.05, 0.08, 0.12, 0.2, 0.3)),
    "pit-then-mps": ("strength", STRENGTHS),
    "importance-quant": ("t_margin", T_MARGINS),
    "importance-prune": ("t_margin", T_MARGINS),
    "importance-ksigma": ("t_margin", T_MARGINS),
    "twonn-thesis": ("delta_frac", (0.0, 0.05, 0.1, 0.4)),
    "admm-unstructured": ("budget_frac", (0.15, 0.2, 0.3)),
}
# label -> (method, fixed method options, cost override)
VARIANTS: dict[str, tuple[str, tuple[tuple[str, float | str], ...], str | None]] = {
    "importance-quant": ("importance", (("variant", "quant"),), None),
    "importance-prune": ("importance", (("variant", "prune"),), None),
    "importance-ksigma": ("importance", (("pruning", "ksigma"),), None),
    "twonn-thesis": ("twonn", (("activations", "thesis"),), None),
    "admm-unstructured": ("admm", (("sparsity", "unstructured"),), "size_sparse"),
}


def points(base: SearchConfig, methods: list[str], quick: bool) -> list[tuple[str, float, SearchConfig]]:
    out = []
    for label in methods:
        knob, values = KNOBS[label]
        method, fixed, cost = VARIANTS.get(label, (label, (), None))
        values = values[:: max(len(values) // 2, 1)] if quick else values
        for v in values:
            cfg = replace(base, method=method, method_options=fixed, cost=cost or base.cost)
            if knob == "uniform_bits":
                cfg = replace(cfg, uniform_bits=int(v))
            elif knob == "strength":
                cfg = replace(cfg, strength=float(v))
            else:
                cfg = replace(cfg, method_options=(*fixed, (knob, float(v))))
            out.append((knob, v, cfg))
    return out


def smallest_at(df: pd.DataFrame, cost: str, floor: float) -> dict[str, float | None]:
    """Per method, the smallest cost with test accuracy >= floor (None if no point reaches it)."""
    out = {}
    for method, part in df.groupby("method"):
        ok = part[part["test_acc"] >= floor - 1e-12]
        out[method] = float(ok[cost].min()) if len(ok) else None
    return out


def family(method: str) -> str:
    return "uniform" if method.startswith("uniform") else method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(KNOBS))
    parser.add_argument("--target", default="generic")
    parser.add_argument("--cost", default="size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="fewer points and epochs (a smoke test)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "methods_digits")
    parser.add_argument("--report", type=Path, help="no training: write --out from this finished benchmark folder")
    args = parser.parse_args()
    torch.set_num_threads(1)  # two shared cores: one thread avoids OpenMP spin-waiting against other jobs
    overrides = [f"target={args.target}", f"cost={args.cost}", f"seed={args.seed}", "progress=false"]
    if args.quick:
        overrides += ["warmup_epochs=5", "search_epochs=5", "finetune_epochs=3"]
    base = load_config(ROOT / "configs" / "digits_stm32h7.toml", overrides)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.report is not None:  # no training: the tables and plots of a finished benchmark folder
        folder = args.report
        total = sum(sum(json.loads(f.read_text()).get("seconds", {}).values()) for f in folder.glob("*/metrics.json"))
    else:
        folder = new_run_dir(args.runs, f"methods-digits-{args.target}-seed{args.seed}")
        atomic_write_json(folder / "sweep.json", {"base": base.to_dict(), "methods": methods})
        (folder / "warmup").mkdir()
        t0 = time.perf_counter()
        warm = shared_warmup(base, folder / "warmup")
        print(f"warm-up: {time.perf_counter() - t0:.0f} s", flush=True)
        for i, (knob, value, cfg) in enumerate(points(base, methods, args.quick)):
            name = f"{i:02d}-{default_name(cfg)}-{knob}{value:g}"
            t = time.perf_counter()
            m = run(replace(cfg, out_dir=str(folder), name=name), warm_state=warm)
            print(
                f"{m['method']:18s} {knob}={value:<6g} {cfg.cost}={m['cost']:>8,.0f}  "
                f"test={100 * m['test_acc']:.2f}%  ({time.perf_counter() - t:.0f} s)",
                flush=True,
            )
        total = time.perf_counter() - t0
    csv, png = pareto_report([folder], args.cost, folder, title=f"digits_cnn on digits, {args.target}, {args.cost}")
    sparse_title = f"digits_cnn on digits, {args.target}, size_sparse"
    extra = [] if args.cost == "size_sparse" else [pareto_report([folder], "size_sparse", folder, title=sparse_title)]
    df = fronts(collect([folder]), args.cost)
    col = f"cost:{args.cost}"
    w8 = df[df["method"] == "uniform-w8"]
    w8_acc, w8_cost = float(w8["test_acc"].iloc[0]), float(w8[col].iloc[0])
    best = smallest_at(df, col, w8_acc - 0.01)
    lines = [
        f"| method | smallest {args.cost} (B) at >= w8 - 1 pp | vs w8 | best test acc | points |",
        "|---|---|---|---|---|",
    ]
    for method in sorted(best, key=lambda k: (best[k] is None, best[k] or 0)):
        part = df[df["method"] == method]
        size = best[method]
        cell = f"{size:,.0f}" if size is not None else "not reached"
        ratio = f"{100 * size / w8_cost:.1f}%" if size is not None else ""
        lines.append(f"| {method} | {cell} | {ratio} | {100 * part['test_acc'].max():.2f}% | {len(part)} |")
    points_table = [f"| method | knob | {args.cost} (B) | test acc | on front |", "|---|---|---|---|---|"]
    for _, r in df.sort_values(["method", col]).iterrows():
        knob = Path(r["run"]).name.rsplit("-", 1)[-1]
        front = "yes" if r["on_front"] else ""
        points_table.append(f"| {r['method']} | {knob} | {r[col]:,.0f} | {100 * r['test_acc']:.2f}% | {front} |")
    summary = (
        f"w8 baseline: {100 * w8_acc:.2f}% test accuracy at {w8_cost:,.0f} B; threshold "
        f"{100 * (w8_acc - 0.01):.2f}%. {len(df)} runs, {total / 60:.1f} min on this machine "
        f"(one thread)."
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for path in (csv, png, *(p for pair in extra for p in pair)):
        shutil.copy(path, args.out / path.name)
    sparse_table = _table(fronts(collect([folder]), "size_sparse"), "cost:size_sparse", w8_acc, "size_sparse")
    readme = README.format(
        target=args.target,
        cost=args.cost,
        summary=summary,
        table="\n".join(lines),
        points="\n".join(points_table),
        schedule=_schedule(base),
        sparse="\n".join(sparse_table),
    )
    atomic_write_text(args.out / "README.md", readme)
    print("\n".join(lines))
    print(summary)


def _table(df: pd.DataFrame, col: str, w8_acc: float, cost: str) -> list[str]:
    """Smallest `cost` per method at >= w8 - 1 pp, with the average bit-width of that point (seed 000's b)."""
    out = [f"| method | smallest {cost} (B) at >= w8 - 1 pp | avg bits there | best test acc |", "|---|---|---|---|"]
    rows = []
    for method, part in df.groupby("method"):
        ok = part[part["test_acc"] >= w8_acc - 0.01 - 1e-12]
        best = ok.loc[ok[col].idxmin()] if len(ok) else None
        bits = f"{best['avg_bits']:.2f}" if best is not None and "avg_bits" in best else ""
        cell = f"{best[col]:,.0f}" if best is not None else "not reached"
        rows.append(
            (
                best is None,
                best[col] if best is not None else 0,
                f"| {method} | {cell} | {bits} | {100 * part['test_acc'].max():.2f}% |",
            )
        )
    return out + [r[2] for r in sorted(rows)]


def _schedule(cfg: SearchConfig) -> str:
    return (
        f"warm-up {cfg.warmup_epochs}, search {cfg.search_epochs}, fine-tune {cfg.finetune_epochs} epochs, "
        f"batch {cfg.batch_size}, lr {cfg.lr:g}, arch_lr {cfg.arch_lr:g}, seed {cfg.seed}"
    )


README = """# Every method on digits (digits_cnn), target `{target}`, cost `{cost}`

Produced by `benchmarks/methods_digits.py`: one shared float warm-up, then one run per point,
with configs/digits_stm32h7.toml's schedule ({schedule}).
`{cost}` is the bytes of packed weights (plus the k-means codebooks for twonn-cluster).
Test accuracy is on the 359 held-out digits (one digit = 0.28 pp), one seed: differences of a
point or two are noise.

{summary}

## Smallest size reaching the w8 baseline's accuracy minus 1 pp

{table}

## Every point

`knob` is each method's trade-off knob (see the script's docstring); files: `pareto_{cost}.csv`
(every run, with `on_front`), `pareto_{cost}.png`.

{points}

## The same runs in `size_sparse`

Bytes when each precision group is stored dense or as bitmask + packed non-zeros, whichever is
smaller (cost_models/size_sparse.py); for dense methods the saving comes from weights that
quantize to 0. `avg bits` is seed 000's average bit-width b = sum_l b(l) S(l) N_p(l) (search/metrics.py).

{sparse}
"""


if __name__ == "__main__":
    main()
