"""What every fuzz test asserts about one CLI call, and how it calls the CLI without training.

A call runs `bitgate ARGV` in-process inside a sandbox folder (its cwd), with a sentinel file that a
planted pickle would create if it ever ran. Training is stopped where it would start (`no_training`):
the properties are about what is refused, written and read, not about learning, and a property gets
a few seconds in the default suite.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest

from bitgate.cli import main

SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 1  # examples per property: n * SCALE


def examples(n: int) -> int:
    """The number of generated cases of a property: n in `make test`, 20 n with HYPOTHESIS_PROFILE=long."""
    return n * SCALE


class Accepted(BaseException):  # noqa: N818 - not an error: the run passed every check and would train now
    """Raised where training would start; a BaseException, so the CLI's boundary lets it through."""


def stop_at_training(*args, **kwargs):
    raise Accepted


@dataclass
class Outcome:
    code: int | str  # "accepted": stopped where training would start
    out: str
    err: str
    created: set[str]
    changed: set[str]


def tree(root: Path) -> dict[str, str]:
    """Every path under `root` with a digest of its content (folders: "dir")."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def call(sandbox: Path, argv: list[str]) -> Outcome:
    """`bitgate ARGV` with cwd = sandbox; what it printed, created and changed there."""
    before = tree(sandbox)
    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(sandbox)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code: int | str = main([str(a) for a in argv])
            except SystemExit as stop:  # argparse: --help (0) or a bad flag (2)
                code = int(stop.code or 0)
            except Accepted:
                code = "accepted"
    finally:
        os.chdir(cwd)
    after = tree(sandbox)
    created = set(after) - set(before)
    changed = {k for k in before if k in after and after[k] != before[k]} | (set(before) - set(after))
    return Outcome(code, out.getvalue(), err.getvalue(), created, changed)


def check(outcome: Outcome, sentinel: Path, allowed: tuple[str, ...] = ()) -> None:
    """The properties every call must have (docs/reliability.md, 'Fuzzing').

    allowed: path fragments a successful call may create or rewrite (its outputs)."""
    assert not sentinel.exists(), "a planted pickle ran code"
    assert "Traceback" not in outcome.err, outcome.err
    assert outcome.code in (0, 2, 3, "accepted"), (outcome.code, outcome.err)
    lines = outcome.err.strip().splitlines()
    if outcome.code == 2:
        errors = [line for line in lines if ": error: " in line]
        assert len(errors) == 1 and lines[-1] == errors[0], outcome.err  # warnings may precede, one error ends
        assert not outcome.created and not outcome.changed, (outcome.err, outcome.created, outcome.changed)
    elif outcome.code in (0, "accepted"):
        unexpected = {p for p in outcome.changed if not any(a in p for a in allowed)}
        assert not unexpected, (outcome.err, unexpected)


class Planted:
    """A pickle that, if ever unpickled, creates `sentinel` (it must never exist)."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (Path.touch, (self.sentinel,))


def planted_pickle(sentinel: Path) -> bytes:
    return pickle.dumps({"state": Planted(sentinel), "epoch": 1, "format": "bitgate-model/1"})


@pytest.fixture
def no_training(monkeypatch):
    """Stop every run and sweep where its first epoch would start (after all checks and first writes)."""
    import search.run
    import search.sweep

    monkeypatch.setattr(search.run, "_phases", stop_at_training)
    monkeypatch.setattr(search.sweep, "shared_warmup", stop_at_training)
