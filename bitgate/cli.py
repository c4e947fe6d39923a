"""`bitgate`: search, sweep, pareto, cost, targets, export, verify, calibrate.

Exit codes: 0 done; 2 bad input or an unreadable run-folder file (one line on stderr, nothing
written); 3 training diverged (the last finite checkpoint is kept); 130 interrupted by Ctrl-C
(after the last checkpoint is safe); 1 an unexpected failure (one line giving the log file that
holds its traceback: bitgate/boundary.py). Progress goes through the "bitgate" logger to stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bitgate.boundary import run_command
from bitgate.hints import OneLineParser

EPILOG = """examples:
  bitgate targets
  bitgate cost --model resnet8 --target stm32h7
  bitgate search --set target=mpic --set strength=0.5
  bitgate sweep --config configs/digits_stm32h7.toml
  bitgate sweep --set target=gap8 --methods joint,uniform --budgets 2kB,4kB,8kB
  bitgate sweep --methods importance --vary method_options.t_margin=0.02,0.05,0.1
  bitgate search --resume runs/<run> --set lr=1e-4
  bitgate sweep --config configs/cifar10_resnet8_paper.toml --executor ray --address auto --gpus-per-point 1
  bitgate pareto runs/sweep-* --cost size
  bitgate export runs/<run> --format all --target stm32h7
  bitgate verify runs/<run> --core all --inputs 32
  bitgate calibrate --core m33 --out my_targets/
  bitgate calibrate --import-log board.log --export runs/<run>/export/cmsis-nn --core m33 --target my_m33.toml
  bitgate show runs/sweep-*/03-*
  bitgate report runs/sweep-digits_cnn-stm32h7-seed0
"""


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML file with search settings (see configs/)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set target=mpic --set budget=20kB (repeatable)",
    )
    p.add_argument("--resume", type=Path, help="continue the run/sweep in this folder from its last checkpoint")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="bitgate",
        description="Hardware-aware joint pruning and per-channel mixed-precision search for microcontrollers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("search", help="one search run: warm-up, search, fine-tune; writes a run folder")
    _config_args(p)
    p.add_argument(
        "--ddp",
        type=int,
        metavar="N",
        help="train one supernet on N processes of this machine "
        "(DistributedDataParallel, one GPU each; gloo on CPUs), launched with torchrun",
    )
    p = sub.add_parser("sweep", help="a Pareto sweep over strengths or budgets sharing one warm-up")
    _config_args(p)
    p.add_argument("--methods", help="comma-separated methods (default: the config's [sweep] or 'joint')")
    p.add_argument("--strengths", help="comma-separated regularization strengths, e.g. 0.1,0.3,1,3")
    p.add_argument("--budgets", help="comma-separated budgets in the cost's unit, e.g. 2kB,4kB (overrides strengths)")
    p.add_argument("--uniform-bits", help="bit-widths of the uniform baseline points, e.g. 8,4,2")
    p.add_argument(
        "--vary",
        metavar="KEY=V1,V2,...",
        help="sweep a method knob instead of the strength: method_options.t_margin=0.02,0.05",
    )
    p.add_argument("--no-plot", action="store_true", help="do not write the Pareto plot at the end")
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: points one after the other here; ray: every point as a Ray task",
    )
    p.add_argument(
        "--address",
        help="Ray cluster to join: 'auto' (started with `ray start`) or HOST:PORT "
        "(default: start a Ray on this machine)",
    )
    p.add_argument("--gpus-per-point", type=float, default=0.0, help="GPUs each Ray task reserves (default 0)")
    p.add_argument("--cpus-per-point", type=float, default=1.0, help="CPUs each Ray task reserves (default 1)")
    p = sub.add_parser("pareto", help="collect runs, write the Pareto CSV and PNG")
    p.add_argument("paths", nargs="+", type=Path, help="run or sweep folders (searched recursively)")
    p.add_argument("--cost", default="size", help="cost on the x axis (a cost model name, or 'search')")
    p.add_argument("--out", type=Path, help="output folder (default: the first path)")
    p.add_argument("--title", default="")
    p.add_argument(
        "--budget",
        help="a budget in the plotted cost's unit (e.g. 10kB): drawn as a line, and each "
        "target's most accurate point under it that fits its Flash and RAM is ringed",
    )
    p = sub.add_parser("cost", help="every cost of a model or architecture on a target")
    p.add_argument("--model", help="zoo model (default: the run's)")
    p.add_argument("--target", required=True)
    p.add_argument("--arch", type=Path, help="arch.json (default: unpruned, all weights at the target's top bits)")
    p.add_argument("--run", type=Path, help="a run folder: its model, input shape and arch.json")
    p.add_argument("--in-shape", help="input shape without batch, e.g. 3,32,32 (default: the model's usual)")
    p.add_argument("--classes", type=int, help="number of classes (default: the model's usual)")
    p = sub.add_parser("targets", help="list the registered hardware targets")
    p = sub.add_parser("export", help="integer export of a finished run (ONNX, C header + manifest)")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--format", choices=("onnx", "c", "all"), default="all")
    p.add_argument("--target", help="warn if the weights do not fit this target's Flash (default: the run's)")
    p.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/export/FLAVOUR)")
    p.add_argument(
        "--flavour",
        choices=("reference", "cmsis-nn"),
        help="reference: exact integer model + portable C; cmsis-nn: int8 NHWC calls to CMSIS-NN "
        "(default: the flavour the run was searched for, its target's)",
    )
    p = sub.add_parser(
        "verify",
        help="run a Cortex-M run's cmsis-nn export on emulated cores: bit-exactness, "
        "argmax, Flash, RAM and instructions against the costs; writes RUN_DIR/verify.json",
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument(
        "--core",
        default="all",
        help="m4, m7, m33, m55 (m3 too), comma-separated, or all (default: m4, m7, m33 and m55)",
    )
    p.add_argument("--inputs", type=int, default=16, help="test-set inputs to run on every core (default 16)")
    p.add_argument("--opt", default="O2", help="optimisation level of CMSIS-NN and model.c: O2 (default), O3 or Os")
    p = sub.add_parser(
        "calibrate",
        help="measure a Cortex-M core's latency table (a new device), or a board's "
        "cycles per instruction from its DWT log (--import-log)",
    )
    p.add_argument("--core", required=True, help="the emulated core: m4, m7, m33 or m55")
    p.add_argument(
        "--out",
        type=Path,
        help="folder for cortex-CORE.toml and the target file (the grid); "
        "the JSON of an --import-log (default: LOG.cpi.json)",
    )
    p.add_argument("--name", help="name of the target file written beside the table (default: my_CORE)")
    p.add_argument("--networks", type=int, default=160, help="grid networks to measure (default 160, as built in)")
    p.add_argument("--opt", default="O2", help="optimisation level of CMSIS-NN and model.c: O2 (default), O3 or Os")
    p.add_argument(
        "--import-log",
        type=Path,
        metavar="LOG",
        help="a board's output of the export's profiling "
        "firmware (bg-mark lines): fit cycles per instruction instead of measuring the grid",
    )
    p.add_argument("--export", type=Path, help="with --import-log: the cmsis-nn export the board ran")
    p.add_argument(
        "--target",
        type=Path,
        help="with --import-log: a target TOML whose cycles_per_instruction is set to the measured factor",
    )
    p = sub.add_parser("show", help="draw a finished run's architecture: RUN_DIR/arch.png")
    p.add_argument("run_dir", type=Path)
    p = sub.add_parser("report", help="a self-contained HTML report of a sweep: SWEEP_DIR/report.html")
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--out", type=Path, help="output file (default: SWEEP_DIR/report.html)")
    p.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="[COST=]AMOUNT",
        help="a budget (e.g. 10kB: each target's search cost; memory=10kB, latency_cortexm=2M: that "
        "cost), repeatable: drawn on the fronts; the pick is the most accurate point within every "
        "budget that fits its target's Flash and RAM",
    )
    return parser


def _version() -> str:
    from bitgate import __version__

    return __version__


class _StdHandler(logging.StreamHandler):
    """Progress (INFO) to whatever sys.stdout is now, warnings to sys.stderr (redirects after setup honoured)."""

    def __init__(self, warnings: bool) -> None:
        super().__init__()
        self.warnings = warnings
        self.addFilter(lambda r: (r.levelno >= logging.WARNING) == warnings)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr if self.warnings else sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging() -> None:
    """The "bitgate" logger: time-stamped progress lines on stdout, 'bitgate: warning: ...' on stderr."""
    logger = logging.getLogger("bitgate")
    if not any(isinstance(h, _StdHandler) for h in logger.handlers):
        progress, warnings = _StdHandler(warnings=False), _StdHandler(warnings=True)
        progress.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        warnings.setFormatter(logging.Formatter("bitgate: warning: %(message)s"))
        logger.addHandler(progress)
        logger.addHandler(warnings)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()

    def command() -> int:
        from bitgate import commands  # heavy imports (torch) only after argument parsing

        return getattr(commands, f"cmd_{args.command}")(args)

    return run_command(args.command, command)


if __name__ == "__main__":
    sys.exit(main())
