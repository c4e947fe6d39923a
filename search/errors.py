"""Errors the CLI turns into exit codes without importing torch first (ConfigError is also search.config's)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad configuration; the message is one line naming the key."""


class TrainingDiverged(RuntimeError):
    """A phase produced a non-finite or exploding loss or weights; its last finite checkpoint is kept (exit 3)."""
