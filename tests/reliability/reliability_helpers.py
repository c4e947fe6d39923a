"""Helpers of the reliability tests: tiny CLI runs, one-line error checks, subprocess runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "dataset=synthetic",
    "model=digits_cnn",
    "target=generic",
    "cost=size",
    "warmup_epochs=1",
    "search_epochs=2",
    "finetune_epochs=1",
    "batch_size=64",
    "strength=0.05",
    "progress=false",
]


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def one_line_error(self, code: int = 2) -> str:
        """The single stderr line of a refused command (and that there is exactly one, no traceback)."""
        assert self.code == code, (self.code, self.err)
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in self.err, self.err
        return lines[0]


def tiny_args(out_dir: Path, *more: str, without: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """--set arguments of a tiny run writing into out_dir, then `more` (later --set win); `without`: keys left out."""
    args = []
    for item in (*[t for t in TINY if t.split("=")[0] not in without], f"out_dir={out_dir}", *more):
        args += ["--set", item]
    return args


def run_subprocess(argv: list[str], **kw) -> subprocess.Popen:
    """`python -m bitgate.cli ARGV` with piped stdout/stderr (stdout is not a terminal)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # the child starts with Ctrl-C at its default, whatever an earlier test left in this process (a child
    # that inherits an ignored SIGINT never gets Python's KeyboardInterrupt handler)
    return subprocess.Popen(
        [sys.executable, "-m", "bitgate.cli", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=kw.pop("cwd", ROOT),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kw,
    )


def nothing_written(out_dir: Path) -> bool:
    return not out_dir.exists() or not any(out_dir.iterdir())
