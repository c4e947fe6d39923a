"""Seed 002's pair task: Cat vs Dog from CIFAR-10 on QuantNet, the thesis' pipelines beside its numbers.

The thesis (table 4.9, standalone setup) trains QuantNet with Adam, constant lr 1e-3, batch 64,
100 epochs with early stopping on test accuracy (patience 5), and reports

    base model (float32)                               66.00%   2.0852 MB
    TwoNN + mixed precision (1-bit, 2-bit)             65.80%   0.1321 MB
    TwoNN + clustering, cluster-preserving QAT         65.95%   0.1625 MB

Here every training phase (the float base model and each pipeline's retraining) stops early the
same way (patience 5, best epoch kept), judged on a validation split of the training images, not on
the test set. Runs (one shared float warm-up = the base model, then one run per pipeline):

  twonn-thesis   twonn, Delta = 20 (the thesis' value), activations = thesis (clip [-1, 1] at the
                 layer's precision, sign for binary), first_last = float, retrain = scratch
  twonn          twonn, Delta = 20, bitgate's recipe (8-bit PACT activations, 8-bit first/last,
                 QAT from the warm weights)
  twonn-cluster  twonn-cluster, Delta = 20, 16 clusters, float32 codebooks

Sizes are reported as the thesis does, in MiB of stored parameters (its 2.0852 MB base is
545,906 float32 parameters = 2.08 MiB): our `memory` cost (packed weights + per-channel bias and
requantization parameters) plus, for float first/last layers, their float32 weights.
Writes results/seed002_catdog/README.md (full run) and prints the table.

    PYTHONPATH=. .venv/bin/python benchmarks/seed002_catdog.py            # full: 100 + 100 epochs
    PYTHONPATH=. .venv/bin/python benchmarks/seed002_catdog.py --smoke    # 200 images, 1 epoch each
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from search.config import SearchConfig
from search.run import run
from search.rundir import atomic_write_text, new_run_dir
from search.warm_start import shared_warmup

ROOT = Path(__file__).resolve().parents[1]
THESIS = {"base": (66.00, 2.0852), "twonn-thesis": (65.80, 0.1321), "twonn-cluster": (65.95, 0.1625)}
PIPELINES: dict[str, tuple[str, tuple[tuple[str, float | str], ...]]] = {
    "twonn-thesis": (
        "twonn",
        (("delta", 20.0), ("activations", "thesis"), ("first_last", "float"), ("retrain", "scratch")),
    ),
    "twonn": ("twonn", (("delta", 20.0),)),
    "twonn-cluster": ("twonn-cluster", (("delta", 20.0), ("clusters", 16.0))),
}
MIB = 1024.0**2


def base_config(smoke: bool, out: Path, data_root: Path | None) -> SearchConfig:
    epochs = 1 if smoke else 100
    return SearchConfig(
        model="quantnet",
        dataset="cifar10",
        classes=("cat", "dog"),
        target="generic",
        cost="memory",
        warmup_epochs=epochs,
        search_epochs=0,
        finetune_epochs=epochs,
        batch_size=64,
        lr=1e-3,
        patience=5,
        select_best=True,  # the thesis' early stopping (on validation here, not test)
        train_subset=200 if smoke else None,
        out_dir=str(out),
        progress=False,
        data_root=None if data_root is None else str(data_root),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="200 training images, 1 epoch per phase")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--data-root", type=Path, default=None, help="CIFAR-10 folder")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "seed002_catdog")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = new_run_dir(args.runs, "seed002-catdog" + ("-smoke" if args.smoke else ""))
    base = base_config(args.smoke, folder, args.data_root)
    t0 = time.perf_counter()
    (folder / "warmup").mkdir()
    warm = shared_warmup(base, folder / "warmup")
    float_params = 545_906  # QuantNet's conv/linear weights + biases on 3x32x32, 2 classes
    rows = []
    for label, (method, options) in PIPELINES.items():
        cfg = replace(base, method=method, method_options=options, name=label)
        m = run(cfg, warm_state=warm)
        if not rows:
            rows.append(("base", 100 * m["float_test_acc"], 4 * float_params / MIB))
        rows.append((label, 100 * m["test_acc"], m["costs"]["memory"] / MIB))
    lines = [
        "| pipeline | test acc (ours) | size MiB (ours) | test acc (thesis) | size MB (thesis) |",
        "|---|---|---|---|---|",
    ]
    for label, acc, size in rows:
        t_acc, t_size = THESIS.get(label, (None, None))
        thesis = f"{t_acc:.2f}% | {t_size:.4f}" if t_acc is not None else "- | -"
        lines.append(f"| {label} | {acc:.2f}% | {size:.4f} | {thesis} |")
    summary = (
        f"{'smoke run (200 images, 1 epoch per phase): not a result' if args.smoke else 'full run'}; "
        f"{(time.perf_counter() - t0) / 60:.1f} min, one thread; runs in {folder}"
    )
    print("\n".join(lines))
    print(summary)
    if not args.smoke:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            args.out / "README.md", f"# Seed 002: Cat vs Dog, QuantNet\n\n{summary}\n\n" + "\n".join(lines) + "\n"
        )


if __name__ == "__main__":
    main()
