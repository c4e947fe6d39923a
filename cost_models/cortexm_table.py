"""A Cortex-M latency table: retired instructions per CMSIS-NN call, per kernel kind, as data.

The file (TOML; the built-in ones are targets/devices/latency/cortex-m*.toml, written by
benchmarks/cortexm_calibrate.py or `bitgate calibrate`) holds, per kernel kind, coefficients of features
(cost_models/cortexm_features.py): instructions = sum_feature coefficient x feature. Its header says how
it was measured, so a table can be traced to the CMSIS-NN sources, compiler and grid it came from:

    core = "m4"                  # the emulated board it was measured on (deploy/firmware/boards.toml)
    path = "dsp"                 # CMSIS-NN's code path there: "dsp" or "mve" (selects the depthwise kernel)
    [provenance]                 # free-form strings: cmsis_nn, compiler, opt, qemu, grid, date
    [fit.<kind>]                 # samples, median / max relative error of the fit (for the reader)
    [kinds.<kind>]               # "<feature>" = coefficient, e.g. "P2*n*K4" = 6.02

A bad table is refused in one line naming the file and the key.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cost_models.cortexm_calls import KINDS, PATHS
from cost_models.cortexm_features import parse


@dataclass(frozen=True, eq=False)
class LatencyTable:
    """Compared and hashed by identity (load_table makes one per file version), so caches key on it."""

    core: str
    path: str  # "dsp" or "mve"
    kinds: dict[str, dict[str, float]]  # kind -> feature -> instructions per unit
    provenance: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""  # the file it was read from (for messages)

    def coefficients(self, kind: str) -> dict[str, float]:
        """The features of `kind`; one line naming the file when the table has no such kind."""
        if kind not in self.kinds:
            raise ValueError(
                f"{self.source or 'latency table'}: no coefficients for kernel kind {kind!r} "
                f"(it has {', '.join(sorted(self.kinds))}); rerun the calibration"
            )
        return self.kinds[kind]


def _fail(path: str, key: str, why: str) -> ValueError:
    return ValueError(f"{path}: {key}: {why}")


def check(data: dict[str, Any], source: str) -> LatencyTable:
    """A LatencyTable from parsed TOML, validated (ValueError: one line naming `source` and the key)."""
    for key in ("core", "path"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise _fail(source, key, "missing (a non-empty string)")
    if data["path"] not in PATHS:
        raise _fail(source, "path", f"must be one of {', '.join(PATHS)}, got {data['path']!r}")
    unknown = sorted(set(data) - {"core", "path", "provenance", "fit", "kinds"})
    if unknown:
        raise _fail(source, unknown[0], "unknown key (known: core, path, provenance, fit, kinds)")
    kinds = data.get("kinds")
    if not isinstance(kinds, dict) or not kinds:
        raise _fail(source, "kinds", "missing (a table of kernel kinds)")
    out: dict[str, dict[str, float]] = {}
    for kind, row in kinds.items():
        if kind not in KINDS:
            raise _fail(source, f"kinds.{kind}", f"unknown kernel kind (known: {', '.join(KINDS)})")
        if not isinstance(row, dict):
            raise _fail(source, f"kinds.{kind}", "must be a table of feature = coefficient")
        coeffs = {}
        for feature, value in row.items():
            try:
                parse(feature)
            except ValueError as e:
                raise _fail(source, f"kinds.{kind}.{feature}", str(e)) from None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise _fail(source, f"kinds.{kind}.{feature}", f"must be a finite number, got {value!r}")
            coeffs[feature] = float(value)
        out[kind] = coeffs
    for key in ("provenance", "fit"):
        if not isinstance(data.get(key, {}), dict):
            raise _fail(source, key, "must be a table")
    return LatencyTable(
        data["core"], data["path"], out, dict(data.get("provenance", {})), dict(data.get("fit", {})), source
    )


@lru_cache(maxsize=32)
def _load(path: str, mtime: float) -> LatencyTable:
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: cannot read latency table: {e}") from None
    return check(data, path)


def load_table(path: str | Path) -> LatencyTable:
    """The table in `path` (read once per file version)."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime
    except OSError as e:
        raise ValueError(f"{p}: cannot read latency table: {e.strerror}") from None
    return _load(str(p), mtime)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dumps(table: LatencyTable, comment: str = "") -> str:
    """The TOML text of `table` (keys in a stable order, so rewriting an unchanged table changes nothing)."""
    lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
    lines += [f"core = {_value(table.core)}", f"path = {_value(table.path)}", "", "[provenance]"]
    lines += [f"{k} = {_value(v)}" for k, v in table.provenance.items()]
    for kind in KINDS:
        if kind in table.fit:
            lines += ["", f"[fit.{kind}]", *(f"{k} = {_value(v)}" for k, v in table.fit[kind].items())]
    for kind in KINDS:
        if kind in table.kinds:
            lines += ["", f"[kinds.{kind}]", *(f'"{f}" = {_value(v)}' for f, v in table.kinds[kind].items())]
    return "\n".join(lines) + "\n"
