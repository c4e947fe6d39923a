"""A measured latency front on Cortex-M: ResNet-8 / CIFAR-10 searched for stm32l4 (M4) and stm32h7 (M7)
latency with the fitted per-kernel model, every point verified on the emulated M4 and M7.

    python benchmarks/cifar10_cortexm_latency.py                   # cpu preset, resumable
    python benchmarks/cifar10_cortexm_latency.py --only stm32l4    # two processes, one target each
    python benchmarks/cifar10_cortexm_latency.py --report          # table and plots of what is finished

The joint search (cost = latency_cortexm, weights {0, 4, 8}, 8-bit activations) at a few strengths
and the uniform w8 / w4 baselines share the float warm-up of benchmarks/cifar10_latency.py
(configs/cifar10_resnet8_<preset>.toml). Every finished point is then verified (`bitgate verify`
on m4 and m7, 16 test inputs): bit-exact outputs, Flash and RAM from the ELF, exact retired
instructions. Writes results/cifar10_cortexm_latency/: points.csv (one row per point and core: predicted
and measured instructions, cycles = instructions x the cycles_per_instruction of the core's target,
stm32l4 for m4 and stm32h7 for m7, Flash, RAM, accuracy) and front_<core>.png (accuracy against
cycles, predicted and measured side by side).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bitgate.verify_run import verify_run  # noqa: E402
from search.config import load_config  # noqa: E402
from search.rundir import atomic_write_text  # noqa: E402
from search.sweep import SweepConfig, sweep  # noqa: E402
from search.warm_start import shared_warmup  # noqa: E402
from targets import get_target  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("stm32l4", "stm32h7")
STRENGTHS = {"stm32l4": (0.03, 0.1, 0.3, 1.0), "stm32h7": (0.1, 1.0)}  # h7: two, for the 2-core budget
UNIFORM_BITS = (8, 4)
VERIFY_INPUTS = 16
CORE_TARGETS = {"m4": "stm32l4", "m7": "stm32h7"}  # every point is measured on both cores


def plan() -> list[tuple[str, str, SweepConfig]]:
    """[(sweep name suffix, target, SweepConfig)]: a joint front per target and the uniform points once (their
    training does not read the target; every point is measured on both cores)."""
    out = [(f"{t}-joint", t, SweepConfig(("joint",), STRENGTHS[t])) for t in TARGETS]
    return [*out, (f"{TARGETS[0]}-uniform", TARGETS[0], SweepConfig(("uniform",), (), (), UNIFORM_BITS))]


def run_sweeps(preset: str, runs: Path, overrides: list[str], only: tuple[str, ...] | None) -> list[Path]:
    """Every sweep of the plan for the targets in `only` (resuming what exists); the finished sweep folders."""
    base = load_config(
        ROOT / "configs" / f"cifar10_resnet8_{preset}.toml", [f"out_dir={runs}", "progress=false", *overrides]
    )
    warm_dir = runs / f"cifar10-latency-{preset}" / "warmup"  # the float warm-up cifar10_latency.py shares
    warm_dir.mkdir(parents=True, exist_ok=True)
    warm = shared_warmup(base, warm_dir)
    folders = []
    for suffix, target, spec in plan():
        spec = replace(spec, name=f"cifar10-cortexm-{preset}-{suffix}")
        folder = runs / spec.name
        if only is None or target in only:
            cfg = replace(base, target=target, cost="latency_cortexm", bits=(0, 4, 8), act_bits=(8,), budget=None)
            resume = folder if (folder / "sweep.json").exists() else None
            folder, _ = sweep(cfg, spec, resume=resume, warm_state=warm)
        if (folder / "sweep.json").exists():
            folders.append(folder)
    return folders


def points(folder: Path) -> list[Path]:
    """The finished runs of a sweep folder (a metrics.json with costs)."""
    out = []
    for metrics in sorted(folder.glob("*/metrics.json")):
        if "costs" in json.loads(metrics.read_text()):
            out.append(metrics.parent)
    return out


def verified(run: Path) -> dict:
    """The run's verify.json, measuring it on every core of CORE_TARGETS first when one is missing."""
    path = run / "verify.json"
    if not path.exists() or not set(CORE_TARGETS) <= set(json.loads(path.read_text())["cores"]):
        verify_run(run, cores=",".join(CORE_TARGETS), inputs=VERIFY_INPUTS)
    return json.loads(path.read_text())


def rows(run: Path) -> list[dict]:
    """One row per measured core: accuracy, predicted and measured instructions / cycles, Flash and RAM. Cycles
    are instructions x the cycles per instruction of the core's target (CORE_TARGETS)."""
    metrics = json.loads((run / "metrics.json").read_text())
    cfg = json.loads((run / "config.json").read_text())
    v = verified(run)
    label = f"uniform w{cfg['uniform_bits']}" if cfg["method"] == "uniform" else "joint"
    out = []
    for core_name, core in v["cores"].items():
        predicted = v["predicted"]["latency"][core_name]
        cpi = float(get_target(CORE_TARGETS[core_name]).params["cycles_per_instruction"])
        out.append(
            {
                "searched_for": metrics["target"],
                "core": core_name,
                "label": label,
                "strength": cfg["strength"],
                "test_acc": metrics["test_acc"],
                "deployed_test_acc": metrics.get("deployed_test_acc"),
                "float_test_acc": metrics["float_test_acc"],
                "predicted_instructions": predicted["instructions"],
                "measured_instructions": core["mean_instructions"],
                "instruction_error": predicted["instructions"] / core["mean_instructions"] - 1,
                "predicted_cycles": predicted["instructions"] * cpi,
                "measured_cycles": core["mean_instructions"] * cpi,
                "searched_cost": metrics["costs"]["latency_cortexm"],
                "predicted_flash": v["predicted"]["memory"],
                "measured_flash": core["flash_model_bytes"],
                "predicted_ram": v["predicted"]["peak_activation_ram"],
                "measured_ram": core["static_ram_bytes"],
                "stack_bytes": core["stack_bytes"],
                "bit_exact": core["bit_exact"],
                "run": run.name,
            }
        )
    return out


def plot(df: pd.DataFrame, out: Path, preset: str) -> None:
    """Accuracy against cycles per core, every point measured there: the joint fronts searched for each target
    and the uniform baselines, each point's measured cycles (filled, tagged) beside its predicted (hollow)."""
    for core, part in df.groupby("core"):
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        series = part["label"].where(part["label"] != "joint", "joint, searched for " + part["searched_for"])
        for name, group in part.groupby(series):
            group = group.sort_values("measured_cycles")
            style = "s" if name.startswith("uniform") else "o"
            line = ax.plot(group["measured_cycles"] / 1e6, 100 * group["test_acc"], style, label=f"{name}: measured")
            for _, r in group.iterrows():
                tag = r["label"].split()[-1] if r["label"] != "joint" else f"s{r['strength']:g}"
                ax.annotate(
                    tag,
                    (r["measured_cycles"] / 1e6, 100 * r["test_acc"]),
                    xytext=(-4, 6),
                    textcoords="offset points",
                    fontsize=7,
                    ha="right",
                    color=line[0].get_color(),
                )
            ax.plot(
                group["predicted_cycles"] / 1e6,
                100 * group["test_acc"],
                style[0],
                mfc="none",
                ms=11,
                color=line[0].get_color(),
                label=f"{name}: predicted",
            )
        cpi_of = CORE_TARGETS[core]
        ax.set_xlabel(f"M cycles per inference on {core} (instructions x {cpi_of}'s cycles per instruction)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"ResNet-8, CIFAR-10 ({preset}): every point measured on the emulated {core}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / f"front_{core}.png", dpi=120)
        plt.close(fig)


def report(folders: list[Path], out: Path, preset: str) -> pd.DataFrame:
    """points.csv and the front plots over every finished (and now verified) point."""
    df = pd.DataFrame([r for folder in folders for run in points(folder) for r in rows(run)])
    out.mkdir(parents=True, exist_ok=True)
    if not df.empty:
        df = df.sort_values(["searched_for", "core", "label", "measured_cycles"])
        plot(df, out, preset)
    atomic_write_text(out / "points.csv", df.to_csv(index=False))
    return df


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "cifar10_cortexm_latency")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--only", help=f"run the sweeps of these targets only ({', '.join(TARGETS)})")
    parser.add_argument("--report", action="store_true", help="no training: verify and tabulate what is finished")
    args = parser.parse_args()
    only = tuple(args.only.split(",")) if args.only else None
    if only is not None and not set(only) <= set(TARGETS):
        parser.error(f"--only takes {', '.join(TARGETS)}, got {args.only}")
    if args.report:
        folders = [args.runs / f"cifar10-cortexm-{args.preset}-{s}" for s, _, _ in plan()]
        folders = [f for f in folders if (f / "sweep.json").exists()]
    else:
        folders = run_sweeps(args.preset, args.runs, args.set, only)
    with pd.option_context("display.width", 200):
        print(report(folders, args.out, args.preset).to_string(index=False))


if __name__ == "__main__":
    main()
