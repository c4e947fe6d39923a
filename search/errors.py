"""Errors the CLI turns into exit codes without importing torch first (ConfigError is also search.config's)."""

from __future__ import annotations


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
