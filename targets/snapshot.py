"""A target as a run folder keeps it: `target.json` beside config.json, with its latency table copied.

A run made for a device found through BITGATE_TARGETS_PATH (or a plugin) must still export, show
and report on a machine, or in a shell, that lacks it. So every run writes the definition it was
priced with, and reading a run falls back to that copy when the name is not registered. The
latency table a Cortex-M target names (params.latency_table, a path) is copied next to it and
named relative to the folder, so the folder can move.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from targets.target import Target

TARGET_FILE = "target.json"
TABLE_FILE = "target-latency.toml"
FORMAT = "bitgate-target/1"


def snapshot_files(target: Target) -> dict[str, bytes]:
    """The files that keep `target` in a run folder: {"target.json": ..., "target-latency.toml": ...}
    (the table only when the target names one); the caller writes them (atomically)."""
    data: dict[str, Any] = asdict(target)
    data["storage_bits"] = {str(k): v for k, v in target.storage_bits.items()}
    files: dict[str, bytes] = {}
    table = target.params.get("latency_table")
    if isinstance(table, str) and table and Path(table).is_file():
        files[TABLE_FILE] = Path(table).read_bytes()
        data["params"] = {**data["params"], "latency_table": TABLE_FILE}
    files[TARGET_FILE] = (json.dumps({"format": FORMAT, "target": data}, indent=1) + "\n").encode()
    return files


def load_target_copy(folder: Path) -> Target:
    """The target a run folder kept; ValueError (one line naming the file) when it is not readable."""
    path = Path(folder) / TARGET_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8-sig"))
        data = dict(saved["target"]) if saved.get("format") == FORMAT else None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path} is not a readable target copy ({type(exc).__name__})") from None
    if data is None:
        raise ValueError(f"{path} is not a bitgate target copy (format {saved.get('format')!r}, expected {FORMAT})")
    try:
        data["storage_bits"] = {int(k): v for k, v in dict(data.get("storage_bits", {})).items()}
        params = dict(data.get("params", {}))
        table = params.get("latency_table")
        if isinstance(table, str) and table and not Path(table).is_absolute():
            params["latency_table"] = str(Path(folder) / table)
        data["params"] = params
        for key in ("weight_bits", "act_bits", "costs"):
            data[key] = tuple(data.get(key, ()))
        return Target(**data)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{path} is not a valid target copy ({str(exc).splitlines()[0] if str(exc) else exc!r})"
        ) from None
