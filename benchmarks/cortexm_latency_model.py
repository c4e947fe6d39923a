"""The Cortex-M latency model against measurement, on networks it was not fitted to, on m4, m7, m33 and m55.

    PYTHONPATH=. python benchmarks/cortexm_latency_model.py [--out results/cortexm_latency_model]
    PYTHONPATH=. python benchmarks/cortexm_latency_model.py --report   # rewrite summary + plot from the CSV

Held-out set (none of it is in the calibration grid, deploy/calibration/grid.py): digits_cnn, ResNet-8,
DS-CNN, MobileNetV2 x0.35 (32x32) and the zoo's mlp, each all 8-bit, all 4-bit, 8-bit with 40% of the
channels pruned, and three random mixed 4/8-bit architectures pruning 25%, 50% and 70%; plus digits_cnn
architectures found by short searches for stm32l4 (latency and memory costs, several strengths). Every
network is exported (cmsis-nn), built for each core (-O2, production build) and run on QEMU: exact
instructions per inference. Predicted: the model's instructions (latency_cortexm / cycles_per_instruction,
with the deploy plan's glue ops), and, for comparison, the model it replaced (MACs / macs_per_cycle + 300
per kernel call, stm32l4's constants on m4 / m33 / m55, stm32h7's on m7), compared in cycles (measured
instructions x the target's cycles per instruction) and after its best single scale factor. Writes
latency_model.csv, summary.json, predicted_vs_measured.png. Instruction counts do not depend on the
weights, so random-init weights stand in for trained ones (a searched architecture is exported with the
same random weights). About 10-15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "deploy"))
from export_helpers import varied_images  # noqa: E402

from cost_models.latency_cortexm import instructions, target_table  # noqa: E402
from cost_models.ops import layer_macs  # noqa: E402
from deploy import cmsis_interpreter, export, interpreter  # noqa: E402
from deploy.firmware import build_firmware, find_toolchain, run_firmware  # noqa: E402
from search.pricing import layer_choices  # noqa: E402
from supernet import Architecture, discretize, materialize, to_supernet  # noqa: E402
from targets import get_target  # noqa: E402
from zoo import create_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORE_TARGETS = {"m4": "stm32l4", "m7": "stm32h7", "m33": "stm32u5", "m55": "alif_e7"}
OLD = {"m4": (0.5, 300), "m7": (0.8, 300), "m33": (0.5, 300), "m55": (0.5, 300)}  # (MAC/cycle, cycles per call)
MODELS = {
    "digits_cnn": (1, 8, 8),
    "resnet8": (3, 32, 32),
    "dscnn": (1, 49, 10),
    "mobilenet_v2": (3, 32, 32),
    "mlp": (1, 8, 8),
}
ORDER_MARGIN = 0.10  # pairs whose measured counts differ by more than this must be ordered right
SEARCHES = (
    ("latency_cortexm", 1.0),
    ("latency_cortexm", 3.0),
    ("latency_cortexm", 10.0),
    ("memory", 0.3),
    ("memory", 3.0),
)


def build_model(name: str, shape: tuple[int, ...]) -> torch.nn.Module:
    if name == "mobilenet_v2":
        import torchvision

        return torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.35)
    return create_model(name, 10, shape)


def random_mixed(net, seed: int, prune: float, share4: float | None = None) -> Architecture:
    """Every gate group a random mix of 4 and 8 bits (a random share of 4-bit channels per group unless
    given), `prune` of its channels pruned where it may be."""
    rng = random.Random(seed)
    fixed = share4
    for gates in net.weight_gates():
        share4 = rng.random() if fixed is None else fixed
        bits = [
            0 if 0 in gates.options and rng.random() < prune else (4 if rng.random() < share4 else 8)
            for _ in range(gates.channels)
        ]
        if not any(bits):
            bits[0] = 8
        gates.set_choice(bits)
    return discretize(net)


def architectures(name: str, net) -> dict[str, Architecture]:
    channels = {n: s.out_channels for n, s in net.specs.items()}
    return {
        "w8": Architecture.uniform(channels, 8, 8),
        "w4": Architecture.uniform(channels, 4, 8),
        "w8-pruned": random_mixed(net, 4, 0.4, share4=0.0),
        "mixed-a": random_mixed(net, 1, 0.25),
        "mixed-b": random_mixed(net, 2, 0.5),
        "mixed-c": random_mixed(net, 3, 0.7),
    }


def searched_archs(work: Path) -> dict[str, Architecture]:
    """digits_cnn architectures from short searches for stm32l4 (one per cost and strength)."""
    from search.config import load_config
    from search.run import run

    found = {}
    for cost, strength in SEARCHES:
        name = f"searched-{cost.split('_')[0]}-{strength:g}"
        cfg = load_config(
            None,
            [
                "model=digits_cnn",
                "dataset=digits",
                "target=stm32l4",
                f"cost={cost}",
                f"strength={strength}",
                "warmup_epochs=3",
                "search_epochs=6",
                "finetune_epochs=1",
                f"out_dir={work / name}",
                "batch_size=64",
            ],
        )
        run(cfg)
        found[name] = Architecture.load(next((work / name).glob("*/arch.json")))
    return found


def old_model(choices, mpc: float, per_call: float) -> float:
    """The replaced model: MACs / macs_per_cycle + per_call x (non-empty precision groups)."""
    total = 0.0
    for ch in choices:
        groups = sum(1 for i, b in enumerate(ch.weight_bits) if b > 0 and float(ch.weight_probs[i].sum()) > 0.5)
        total += float(layer_macs(ch)) / mpc + per_call * groups
    return total


def measure_network(
    model: str, arch_name: str, net, arch: Architecture, pool: torch.Tensor, work: Path, cores: list[str]
) -> list[dict]:
    out = work / f"{model}-{arch_name}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export(materialize(net, arch).eval(), pool, out, formats="c", arch=arch, flavour="cmsis-nn")
    manifest, arrays = interpreter.load(out)
    x = cmsis_interpreter.quantize_input(manifest, pool[:1].numpy())
    expected = cmsis_interpreter.run(manifest, arrays, x, deployed_order=True)
    choices = layer_choices(net, arch)
    rows = []
    for core in cores:
        target = get_target(CORE_TARGETS[core])
        m = run_firmware(build_firmware(out, core, profile=False), x)
        if not np.array_equal(m.outputs, expected):
            raise RuntimeError(f"{model} {arch_name} on {core}: outputs differ from cmsis_interpreter")
        with torch.no_grad():
            predicted = float(instructions(choices, target_table(target), target))
        cpi = float(target.params["cycles_per_instruction"])
        rows.append(
            {
                "model": model,
                "arch": arch_name,
                "core": core,
                "target": target.name,
                "measured_instructions": int(m.instructions[0]),
                "predicted_instructions": round(predicted, 1),
                "cycles_per_instruction": cpi,
                "old_predicted_cycles": round(old_model(choices, *OLD[core]), 1),
                "macs": int(sum(float(layer_macs(c)) for c in choices)),
            }
        )
        print(
            f"{model:13s} {arch_name:22s} {core:4s} measured {rows[-1]['measured_instructions']:>12,d}  "
            f"predicted {predicted:>14,.0f}  ({predicted / rows[-1]['measured_instructions'] - 1:+.2%})",
            flush=True,
        )
    return rows


def pairwise(measured: np.ndarray, predicted: np.ndarray) -> tuple[int, int]:
    """(pairs ordered right, pairs compared): pairs whose measured counts differ by more than ORDER_MARGIN."""
    right = total = 0
    for i in range(len(measured)):
        for j in range(i + 1, len(measured)):
            lo, hi = sorted((measured[i], measured[j]))
            if hi > (1 + ORDER_MARGIN) * lo:
                total += 1
                right += (measured[i] < measured[j]) == (predicted[i] < predicted[j])
    return int(right), int(total)


def figures(measured: np.ndarray, predicted: np.ndarray) -> dict:
    err = np.abs(predicted / measured - 1)
    right, total = pairwise(measured, predicted)
    return {
        "median_abs_error": float(np.median(err)),
        "worst_abs_error": float(err.max()),
        "pairs_ordered_right": right,
        "pairs_compared": total,
    }


def summarize(rows: list[dict]) -> dict:
    out = {}
    for core in dict.fromkeys(r["core"] for r in rows):
        rs = [r for r in rows if r["core"] == core]
        meas = np.array([r["measured_instructions"] for r in rs], dtype=np.float64)
        new = np.array([r["predicted_instructions"] for r in rs], dtype=np.float64)
        cycles = meas * rs[0]["cycles_per_instruction"]
        old = np.array([r["old_predicted_cycles"] for r in rs], dtype=np.float64)
        scale = float(np.exp(np.median(np.log(cycles / old))))  # the old model's most favourable single factor
        out[core] = {
            "networks": len(rs),
            "target": rs[0]["target"],
            "new": figures(meas, new),
            "old_in_cycles": figures(cycles, old),
            "old_best_scale": scale,
            "old_scaled": figures(cycles, old * scale),
        }
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cores = list(dict.fromkeys(r["core"] for r in rows))
    fig, axes = plt.subplots(1, len(cores), figsize=(4.2 * len(cores), 4.2), squeeze=False)
    markers = {m: k for m, k in zip(MODELS, "os^Dv", strict=True)}
    for ax, core in zip(axes[0], cores, strict=True):
        rs = [r for r in rows if r["core"] == core]
        cpi = rs[0]["cycles_per_instruction"]
        for r in rs:
            m = markers.get(r["model"], "o")
            ax.scatter(r["measured_instructions"], r["predicted_instructions"], marker=m, color="tab:blue", s=22)
            ax.scatter(
                r["measured_instructions"], r["old_predicted_cycles"] / cpi, marker=m, color="tab:red", s=14, alpha=0.5
            )
        lo = min(r["measured_instructions"] for r in rs) / 2
        hi = max(r["measured_instructions"] for r in rs) * 2
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
        ax.fill_between([lo, hi], [lo * 0.95, hi * 0.95], [lo * 1.05, hi * 1.05], color="grey", alpha=0.2)
        ax.set(xscale="log", yscale="log", xlabel="measured instructions (QEMU)", title=f"{core} ({rs[0]['target']})")
        ax.set_ylabel("predicted instructions" if core == cores[0] else "")
    handles = [
        plt.Line2D([], [], marker="o", ls="", color="tab:blue", label="fitted model"),
        plt.Line2D([], [], marker="o", ls="", color="tab:red", alpha=0.5, label="replaced model / CPI"),
        *(plt.Line2D([], [], marker=k, ls="", color="grey", label=m) for m, k in markers.items()),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=130)


def write_report(out: Path) -> dict:
    with (out / "latency_model.csv").open() as f:
        rows = [
            {k: (float(v) if k.endswith(("instructions", "cycles", "instruction")) else v) for k, v in r.items()}
            for r in csv.DictReader(f)
        ]
    summary = summarize(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(rows, out / "predicted_vs_measured.png")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "cortexm_latency_model")
    parser.add_argument("--cores", default="m4,m7,m33,m55")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--no-search", action="store_true", help="leave out the searched digits architectures")
    parser.add_argument("--report", action="store_true", help="only rewrite summary.json and the plot from the CSV")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        if find_toolchain().problem:
            sys.exit(find_toolchain().problem)
        cores, rows = args.cores.split(","), []
        with tempfile.TemporaryDirectory(prefix="cortexm-heldout-") as tmp:
            work = Path(tmp)
            for model in args.models.split(","):
                shape = MODELS[model]
                torch.manual_seed(0)
                pool = varied_images(64, shape, torch.Generator().manual_seed(0))
                net = to_supernet(build_model(model, shape), pool, bits=(0, 4, 8))
                archs = architectures(model, net)
                if model == "digits_cnn" and not args.no_search:
                    archs.update(searched_archs(work / "runs"))
                for arch_name, arch in archs.items():
                    rows += measure_network(model, arch_name, net, arch, pool, work, cores)
        with (args.out / "latency_model.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    summary = write_report(args.out)
    for core, s in summary.items():
        new, old, scaled = s["new"], s["old_in_cycles"], s["old_scaled"]
        print(
            f"{core}: {s['networks']} networks | fitted: median {new['median_abs_error']:.2%} worst "
            f"{new['worst_abs_error']:.2%} order {new['pairs_ordered_right']}/{new['pairs_compared']} | replaced "
            f"(cycles): median {old['median_abs_error']:.1%} worst {old['worst_abs_error']:.1%} order "
            f"{old['pairs_ordered_right']}/{old['pairs_compared']} (best scale x{s['old_best_scale']:.2f}: median "
            f"{scaled['median_abs_error']:.1%}, worst {scaled['worst_abs_error']:.1%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
