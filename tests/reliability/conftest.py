"""Fixtures of the reliability tests: the CLI in-process, and one finished tiny run to copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from reliability_helpers import Outcome, tiny_args

from bitgate.cli import main


@pytest.fixture
def cli(capsys):
    """Run `bitgate ARGS` in-process; returns exit code, stdout and stderr."""

    def call(*argv) -> Outcome:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return call


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """One finished tiny run (copy it before changing it: see `run_copy`)."""
    out = tmp_path_factory.mktemp("finished")
    assert main(["search", *tiny_args(out, "name=done")]) == 0
    return out / "done"


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    dst = tmp_path / "copy" / finished_run.name
    shutil.copytree(finished_run, dst)
    return dst
