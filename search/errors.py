"""Errors the CLI turns into exit codes without importing torch first (ConfigError is also search.config's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FOLDER_ATTR = "bitgate_folder"  # set on an exception by `blame(folder)`: where the CLI writes its error.log


class ConfigError(ValueError):
    """A bad configuration; the message is one line naming the key."""


class TrainingDiverged(RuntimeError):
    """A phase produced a non-finite or exploding loss or weights; its last finite checkpoint is kept (exit 3)."""


def did_you_mean(word: str, known: list[str] | tuple[str, ...] | set[str]) -> str:
    """' (did you mean 'strength'?)' for a near miss among `known`, else ''; a typo gets one suggestion,
    not a list of fifty keys to read through."""
    import difflib

    close = difflib.get_close_matches(str(word), sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@contextmanager
def blame(folder: Path | str) -> Iterator[None]:
    """Mark exceptions leaving this block as having happened in run (or sweep) folder `folder`, so the CLI
    (bitgate/boundary.py) writes their traceback there. The innermost folder wins (a sweep's point over
    the sweep)."""
    try:
        yield
    except Exception as exc:
        if getattr(exc, FOLDER_ATTR, None) is None:
            try:
                setattr(exc, FOLDER_ATTR, Path(folder))
            except AttributeError:  # an exception type with __slots__: the log goes to a temporary file
                pass
        raise
