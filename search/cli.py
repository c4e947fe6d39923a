"""`bitgate`: search, sweep, pareto, cost, targets, export. Errors are one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from search.config import ConfigError

TYPICAL_INPUTS = {  # model -> (input shape, classes) of the data set it is usually trained on
    "resnet8": ((3, 32, 32), 10),
    "dscnn": ((1, 49, 10), 12),
    "digits_cnn": ((1, 8, 8), 10),
    "quantnet": ((3, 32, 32), 2),
    "mlp": ((1, 8, 8), 10),
}

EPILOG = """examples:
  bitgate targets
  bitgate cost --model resnet8 --target stm32h7
  bitgate search --set target=mpic --set strength=0.5
  bitgate sweep --config configs/digits_stm32h7.toml
  bitgate sweep --set target=gap8 --methods joint,uniform --budgets 2kB,4kB,8kB
  bitgate pareto runs/sweep-* --cost size
  bitgate export runs/<run> --format all --target stm32h7
"""


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML file with search settings (see configs/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set target=mpic --set budget=20kB (repeatable)")  # fmt: skip
    p.add_argument("--resume", type=Path, help="continue the run/sweep in this folder from its last checkpoint")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bitgate",
        description="Hardware-aware joint pruning and per-channel mixed-precision search for microcontrollers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("search", help="one search run: warm-up, search, fine-tune; writes a run folder")
    _config_args(p)
    p = sub.add_parser("sweep", help="a Pareto sweep over strengths or budgets sharing one warm-up")
    _config_args(p)
    p.add_argument("--methods", help="comma-separated methods (default: the config's [sweep] or 'joint')")
    p.add_argument("--strengths", help="comma-separated regularization strengths, e.g. 0.1,0.3,1,3")
    p.add_argument("--budgets", help="comma-separated budgets in the cost's unit, e.g. 2kB,4kB (overrides strengths)")
    p.add_argument("--uniform-bits", help="bit-widths of the uniform baseline points, e.g. 8,4,2")
    p.add_argument("--no-plot", action="store_true", help="do not write the Pareto plot at the end")
    p = sub.add_parser("pareto", help="collect runs, write the Pareto CSV and PNG")
    p.add_argument("paths", nargs="+", type=Path, help="run or sweep folders (searched recursively)")
    p.add_argument("--cost", default="size", help="cost on the x axis (a cost model name, or 'search')")
    p.add_argument("--out", type=Path, help="output folder (default: the first path)")
    p.add_argument("--title", default="")
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
    p.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/export)")
    p.add_argument("--flavour", choices=("reference", "cmsis-nn"), default="reference",
                   help="reference: exact integer model + portable C; cmsis-nn: int8 NHWC calls to CMSIS-NN")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from search import commands  # heavy imports (torch) only after argument parsing

    try:
        return getattr(commands, f"cmd_{args.command}")(args)
    except (ConfigError, ValueError, KeyError, FileNotFoundError) as exc:
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"bitgate {args.command}: error: {msg.splitlines()[0] if msg else type(exc).__name__}", file=sys.stderr)
        return 2


def dump(obj) -> str:
    return json.dumps(obj, indent=1)


if __name__ == "__main__":
    sys.exit(main())
