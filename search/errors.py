"""Errors the CLI turns into exit codes without importing torch first (ConfigError lives in search.config)."""

from __future__ import annotations


class TrainingDiverged(RuntimeError):
    """A phase produced a non-finite or exploding loss or weights; its last finite checkpoint is kept (exit 3)."""
