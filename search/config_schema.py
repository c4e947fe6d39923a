"""config.json's layout has a version (`"schema": N`), so that renaming a setting does not orphan
every run folder written before: an older layout is migrated, one version at a time, when a run
folder is read (`bitgate show`, `export`, `report`, `--resume`).

Schema 0 is every config.json without a "schema" key (written before versions existed):
- `harden_gap` was replaced by `harden_collapse` (a different rule; its hardening cannot be
  replayed): dropped;
- a folder without `flavour` was priced for the reference flavour (per-channel int8 shift) before
  targets named their deploy flavour, so it keeps that flavour, and `export` writes what it priced.
To change a setting's name or meaning: bump SCHEMA and add the step from the previous version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from search.errors import ConfigError

SCHEMA = 1


def _from_0(data: dict[str, Any]) -> dict[str, Any]:
    data.pop("harden_gap", None)
    data.setdefault("flavour", "reference")
    return data


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_0}  # from version N to N + 1


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A saved config's settings in the current layout (without the "schema" key; none = schema 0)."""
    data = dict(data)
    version = data.pop("schema", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ConfigError(f"schema must be a config layout version (0..{SCHEMA}), got {version!r}")
    if version > SCHEMA:
        raise ConfigError(
            f"this config was written by a newer bitgate (schema {version}; this one reads up to "
            f"{SCHEMA}): upgrade bitgate to read it"
        )
    for v in range(version, SCHEMA):
        data = MIGRATIONS[v](data)
    return data
