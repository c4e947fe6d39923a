"""Corrupted run-folder files (truncated, wrong types, missing keys, foreign bytes, planted pickles) under
every command that reads them: refused in one line naming the problem, or read; never a traceback,
never code run from the folder, nothing created on refusal, nothing that existed changed."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from conftest import fresh_sandbox
from fuzz_helpers import call, check, examples, planted_pickle
from hypothesis import given, settings
from hypothesis import strategies as st

RUN_FILES = [
    "config.json",
    "arch.json",
    "metrics.json",
    "model.pt",
    "target.json",
    "history.csv",
    "checkpoints/finetune.pt",
    "checkpoints/warmup.pt",
]
SWEEP_FILES = [
    "sweep.json",
    "warmup/checkpoints/warmup.pt",
    "warmup/metrics.json",
    "00-*/metrics.json",
    "00-*/config.json",
    "01-*/arch.json",
    "01-*/metrics.json",
]
# each command that reads a run or sweep folder, and what it may write when it succeeds
RUN_COMMANDS = {
    "show": (["show", "run"], ("arch.png",)),
    "export": (["export", "run", "--format", "c"], ("export",)),
    "cost": (["cost", "--target", "generic", "--run", "run"], ()),
    "pareto": (["pareto", "run", "--out", "out"], ("out",)),
    "resume": (["search", "--resume", "run"], ("run/",)),
}
SWEEP_COMMANDS = {
    "report": (["report", "sweep", "--out", "report.html"], ("report.html", "arch.png")),
    "pareto": (["pareto", "sweep", "--out", "out"], ("out",)),
    "resume": (["sweep", "--resume", "sweep", "--no-plot"], ("sweep/",)),
}
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


@st.composite
def mutation(draw, original: bytes, sentinel: Path) -> bytes:
    """A corrupted version of a file: truncated, a pickle that would run code, random bytes, a BOM, or
    (JSON) a key dropped or its value replaced by a value of another type."""
    kind = draw(
        st.sampled_from(["truncate", "pickle", "bytes", "empty", "bom", "json-drop", "json-retype", "json-nest"])
    )
    if kind == "truncate":
        return original[: draw(st.integers(0, max(len(original) - 1, 0)))]
    if kind == "pickle":
        return planted_pickle(sentinel)
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "empty":
        return b""
    if kind == "bom":
        return b"\xef\xbb\xbf" + original
    try:
        data = json.loads(original)
    except ValueError:  # not a JSON file: a value where its bytes were
        return json.dumps(draw(JSON_VALUES)).encode()
    target = data
    path = []
    while isinstance(target, dict) and target and draw(st.booleans()):  # go down a few levels
        key = draw(st.sampled_from(sorted(target)))
        if not isinstance(target[key], dict) or not target[key]:
            break
        path.append(key)
        target = target[key]
    if not isinstance(target, dict) or not target:
        return json.dumps(draw(JSON_VALUES)).encode()
    key = draw(st.sampled_from(sorted(target)))
    if kind == "json-drop":
        del target[key]
    else:
        target[key] = draw(JSON_VALUES)
    return json.dumps(data).encode()


_boxes = itertools.count()


def _corrupt(box: Path, folder: str, pattern: str, data) -> Path:
    (path,) = sorted((box / folder).glob(pattern))
    path.write_bytes(data.draw(mutation(path.read_bytes(), box.parent / "PWNED")))
    return path


@pytest.fixture
def box_factory(tmp_path, finished):
    return lambda: fresh_sandbox(tmp_path, finished, next(_boxes))


@settings(max_examples=examples(15))
@given(data=st.data(), name=st.sampled_from(RUN_FILES), command=st.sampled_from(sorted(RUN_COMMANDS)))
def test_corrupt_run_files(box_factory, no_training, data, name, command):
    box = box_factory()
    sentinel = box.parent / "PWNED"
    _corrupt(box, "run", name, data)
    argv, outputs = RUN_COMMANDS[command]
    check(call(box, argv), sentinel, allowed=outputs)


@settings(max_examples=examples(8))
@given(data=st.data(), name=st.sampled_from(SWEEP_FILES), command=st.sampled_from(sorted(SWEEP_COMMANDS)))
def test_corrupt_sweep_files(box_factory, no_training, data, name, command):
    box = box_factory()
    sentinel = box.parent / "PWNED"
    _corrupt(box, "sweep", name, data)
    argv, outputs = SWEEP_COMMANDS[command]
    check(call(box, argv), sentinel, allowed=outputs)
