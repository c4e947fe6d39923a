"""Generated command lines for every command that reads or writes files (search, sweep, pareto, cost,
targets, export, show, report, verify): flags and values drawn from paths that exist, do not exist, are
files, folders or too long, and from numbers and words of every kind. `calibrate` is left out: an
accepted call measures a grid of networks on emulated cores for minutes (its refusals are in
tests/bitgate/test_calibrate_cli.py)."""

from __future__ import annotations

import itertools

import pytest
from conftest import fresh_sandbox
from fuzz_helpers import call, check, examples
from hypothesis import given, settings
from hypothesis import strategies as st

LONG = "y" * 300
PATHS = st.sampled_from(
    [
        "run",
        "sweep",
        "notes.txt",
        "empty",
        "missing",
        "",
        LONG,
        "run/config.json",
        "sweep/00-*",
        "new/out",
        "notes.txt/below",
        ".",
    ]
)
NUMBERS = st.sampled_from(["-3", "0", "1", "2", "2.5", "1e9", "abc", "", "nan", "3,32,32", "1,8,8", "0,8,8", "-1,2"])
WORDS = st.sampled_from(
    [
        "size",
        "memory",
        "search",
        "nosuch",
        "",
        "generic",
        "stm32h7",
        "mpic",
        "resnet8",
        "digits_cnn",
        "nonet",
        "joint,uniform",
        "0.1,0.3",
        "1kB,1000B",
        "all",
        "m4",
        "c",
        "onnx",
    ]
)
FLAGS = {
    "search": {"--set": WORDS.map(lambda w: f"strength={w}"), "--config": PATHS, "--resume": PATHS},
    "sweep": {
        "--strengths": NUMBERS,
        "--budgets": WORDS,
        "--methods": WORDS,
        "--resume": PATHS,
        "--uniform-bits": NUMBERS,
        "--vary": WORDS.map(lambda w: f"method_options.{w}=1,2"),
    },
    "pareto": {"--cost": WORDS, "--out": PATHS, "--title": WORDS},
    "cost": {
        "--model": WORDS,
        "--target": WORDS,
        "--arch": PATHS,
        "--run": PATHS,
        "--in-shape": NUMBERS,
        "--classes": NUMBERS,
    },
    "targets": {},
    "export": {"--format": WORDS, "--target": WORDS, "--out": PATHS, "--flavour": WORDS},
    "show": {},
    "report": {"--out": PATHS},
    "verify": {"--core": WORDS, "--inputs": NUMBERS, "--opt": WORDS},
}
POSITIONAL = {"pareto": 1, "export": 1, "show": 1, "report": 1, "verify": 1}
OUTPUTS = ("arch.png", "report.html", "pareto_", "export", "new", "runs", "empty/", "out", "sweep/", "run/")
_boxes = itertools.count()


@st.composite
def command_line(draw) -> list[str]:
    command = draw(st.sampled_from(sorted(FLAGS)))
    argv = [command] + [draw(PATHS) for _ in range(POSITIONAL.get(command, 0))]
    flags = FLAGS[command]
    for flag in draw(st.lists(st.sampled_from(sorted(flags)), max_size=3, unique=True)) if flags else []:
        argv += [flag, draw(flags[flag])]
    if command in ("search", "sweep"):  # tiny and stopped before training (fuzz_helpers.no_training)
        argv += [
            "--set",
            "dataset=synthetic",
            "--set",
            "warmup_epochs=1",
            "--set",
            "progress=false",
            "--set",
            "out_dir=runs",
        ]
        argv += ["--no-plot"] if command == "sweep" else []
    if draw(st.booleans()):
        argv.append(draw(st.sampled_from(["--nosuch", "--strength", "extra", "--set"])))
    return argv


@pytest.fixture
def box_factory(tmp_path, finished):
    return lambda: fresh_sandbox(tmp_path, finished, next(_boxes))


@settings(max_examples=examples(40))
@given(argv=command_line())
def test_generated_command_lines(box_factory, no_training, argv):
    box = box_factory()
    resolved = [str(next(iter(sorted(box.glob(a))), a)) if "*" in a else a for a in argv]
    check(call(box, resolved), box.parent / "PWNED", allowed=OUTPUTS)
