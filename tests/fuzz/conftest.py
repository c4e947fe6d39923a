"""Fixtures of the fuzz tests: a sandbox, the planted-pickle sentinel, one finished run and sweep to corrupt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

from fuzz_helpers import no_training  # noqa: E402, F401 - a fixture

from bitgate.cli import main  # noqa: E402

TINY = [
    "dataset=synthetic",
    "model=digits_cnn",
    "target=generic",
    "cost=size",
    "warmup_epochs=1",
    "search_epochs=1",
    "finetune_epochs=1",
    "batch_size=64",
    "progress=false",
]


def tiny_set(*more: str) -> list[str]:
    return [a for item in (*TINY, *more) for a in ("--set", item)]


@pytest.fixture(scope="session")
def finished(tmp_path_factory) -> dict[str, Path]:
    """A finished tiny run and a finished two-point sweep (joint + uniform-w8), to copy and corrupt."""
    root = tmp_path_factory.mktemp("fuzz-finished")
    assert main(["search", *tiny_set(f"out_dir={root}", "name=run")]) == 0
    assert (
        main(
            [
                "sweep",
                *tiny_set(f"out_dir={root}", "name=sweep"),
                "--methods",
                "joint,uniform",
                "--strengths",
                "0.1",
                "--uniform-bits",
                "8",
                "--no-plot",
            ]
        )
        == 0
    )
    return {"run": root / "run", "sweep": root / "sweep"}


@pytest.fixture
def sentinel(tmp_path) -> Path:
    return tmp_path / "PWNED"


def fresh_sandbox(base: Path, finished: dict[str, Path], n: int) -> Path:
    """A new folder holding copies of the finished run and sweep, a plain file and a folder."""
    box = base / f"box{n}"
    shutil.copytree(finished["run"], box / "run")
    shutil.copytree(finished["sweep"], box / "sweep")
    (box / "notes.txt").write_text("not a run\n")
    (box / "empty").mkdir()
    return box
