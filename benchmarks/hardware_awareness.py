"""Same model, same data, same strength: search for MPIC and for GAP8 with each target's latency model.

On MPIC (sub-byte SIMD) fewer bits save cycles, so the search should lower precision; on GAP8
(8-bit SIMD only) fewer bits save no cycles, so it should keep 8 bits and prune instead.
Prints the share of channels at each bit-width and writes results/hardware_awareness/.

    python benchmarks/hardware_awareness.py [--strength 0.3] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from search.config import load_config
from search.rundir import atomic_write_json, atomic_write_text
from search.sweep import SweepConfig, sweep
from supernet import Architecture

ROOT = Path(__file__).resolve().parents[1]


def histogram(arch: Architecture) -> dict[int, float]:
    """Share of all output channels (over searchable layers) at each bit-width, 0 = pruned."""
    counts = Counter(b for bits in arch.weight_bits.values() for b in bits)
    total = sum(counts.values())
    return {b: counts[b] / total for b in sorted(counts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strength", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "hardware_awareness")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    args = parser.parse_args()
    rows = []
    for target, cost in (("mpic", "latency_mpic"), ("gap8", "latency_gap8")):
        base = load_config(
            ROOT / "configs" / "digits_stm32h7.toml",
            [
                f"target={target}",
                f"cost={cost}",
                f"search_epochs={args.epochs}",
                f"out_dir={args.runs}",
                "progress=false",
            ],
        )
        base = base.__class__.from_dict({**base.to_dict(), "name": None})
        folder, results = sweep(base, SweepConfig(methods=("joint",), strengths=(args.strength,), name=f"hw-{target}"))
        (run_dir,) = [p for p in folder.iterdir() if (p / "arch.json").exists()]
        hist = histogram(Architecture.load(run_dir / "arch.json"))
        m = results[0]
        rows.append(
            {
                "target": target,
                "cost": cost,
                "strength": args.strength,
                "test_acc": m["test_acc"],
                "cycles": m["cost"],
                "size_bytes": m["costs"]["size"],
                "share_of_channels_by_bits": {str(k): round(v, 3) for k, v in hist.items()},
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "hardware_awareness.json", rows)
    lines = [
        "| target | latency model | test acc | cycles | weight bytes | pruned | 2-bit | 4-bit | 8-bit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        h = r["share_of_channels_by_bits"]
        shares = " | ".join(f"{100 * h.get(b, 0):.0f}%" for b in ("0", "2", "4", "8"))
        lines.append(
            f"| {r['target']} | {r['cost']} | {100 * r['test_acc']:.1f}% | {r['cycles']:,.0f} | "
            f"{r['size_bytes']:,.0f} | {shares} |"
        )
    table = "\n".join(lines)
    atomic_write_text(args.out / "table.md", table + "\n")
    print(table)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
