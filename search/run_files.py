"""Reading a run folder's JSON files: every way one can be wrong is one line naming the file.

Run folders travel between machines and people, get edited by hand and cut short by full disks,
so config.json, arch.json, metrics.json and sweep.json are read as untrusted data: missing,
truncated, not UTF-8, not JSON, or not an object where an object belongs is a RunFileError naming
the file (`bitgate show`, `export`, `report`, `cost --run`, `--resume`). A byte-order mark, which
JSON allows readers to ignore (RFC 8259, 8.1), is ignored.
"""

from __future__ import annotations

import codecs
import json
import math
from pathlib import Path
from typing import Any

from search.config import ConfigError, SearchConfig
from search.rundir import RunFileError
from supernet import Architecture
from zoo.safe_load import one_line_of

ARCH_FORMAT = "bitgate-arch/1"


def read_json(path: Path | str) -> Any:
    """The JSON value in `path`, or a RunFileError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RunFileError(f"{path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8")
    except UnicodeDecodeError:
        raise RunFileError(f"{path} is not UTF-8 text (a binary or corrupt file)") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise RunFileError(f"{path} is not valid JSON ({exc})") from None


def read_json_object(path: Path | str, what: str) -> dict[str, Any]:
    """A JSON object (`what` names the file kind in the error: "metrics.json", "a sweep.json")."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise RunFileError(f"{path} is not a bitgate {what} (expected a JSON object, found {_kind(data)})")
    return data


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def read_config(run_dir: Path | str) -> SearchConfig:
    """RUN_DIR/config.json in any known layout (search/config_schema.py)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise RunFileError(f"{run_dir} is not a bitgate run folder (no config.json)")
    data = read_json_object(path, "config.json")
    try:
        return SearchConfig.from_saved(data)
    except ConfigError as exc:
        raise RunFileError(f"{path}: {exc}") from None


def read_arch(path: Path | str) -> Architecture:
    """arch.json: its format, a table of layers, each with a list of channel bit-widths and one act width."""
    path = Path(path)
    data = read_json_object(path, "arch.json")
    if data.get("format") != ARCH_FORMAT:
        raise RunFileError(f"{path} is not a bitgate arch.json (format {data.get('format')!r}, expected {ARCH_FORMAT})")
    layers, meta = data.get("layers"), data.get("meta", {})
    if not isinstance(layers, dict) or not layers or not isinstance(meta, dict):
        raise RunFileError(f'{path} is not a bitgate arch.json ("layers" must map layer names to their bits)')
    for name, layer in layers.items():
        bits = layer.get("weight_bits") if isinstance(layer, dict) else None
        act = layer.get("act_bits") if isinstance(layer, dict) else None
        if not (isinstance(bits, list) and bits and all(_int(b) for b in bits) and _int(act)):
            raise RunFileError(
                f'{path}: layer {name!r} must hold "weight_bits" (a list of bit-widths) and "act_bits" (one bit-width)'
            )
    try:
        return Architecture.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise RunFileError(f"{path} is not a valid arch.json ({one_line_of(exc)})") from None


def read_metrics(path: Path | str) -> dict[str, Any]:
    """metrics.json of a finished run, with the fields readers use checked for type: method, target and
    cost_name are words; test_acc and every cost a finite number (a sweep's warm-up has no costs and is
    returned as it is: `is_point` tells them apart)."""
    path = Path(path)
    m = read_json_object(path, "metrics.json")
    if "costs" not in m:
        return m
    costs = m["costs"]
    if not isinstance(costs, dict) or not all(_number(v) for v in costs.values()):
        raise RunFileError(f'{path}: "costs" must map cost names to numbers')
    for key in ("method", "target", "cost_name"):
        if not isinstance(m.get(key), str):
            raise RunFileError(f"{path}: {key!r} must be a name, found {m.get(key)!r}")
    for key in ("test_acc", "cost"):
        if not _number(m.get(key)):
            raise RunFileError(f"{path}: {key!r} must be a number, found {m.get(key)!r}")
    for key in ("val_acc", "float_test_acc", "float_val_acc", "strength", "budget"):
        if m.get(key) is not None and not _number(m[key]):
            raise RunFileError(f"{path}: {key!r} must be a number, found {m[key]!r}")
    for key in ("epochs", "seconds", "method_options"):
        if key in m and not isinstance(m[key], dict):
            raise RunFileError(f"{path}: {key!r} must be a table, found {m[key]!r}")
    if not all(_number(v) for v in m.get("seconds", {}).values()):
        raise RunFileError(f'{path}: "seconds" must map phases to numbers')
    return m


def is_point(metrics: dict[str, Any]) -> bool:
    """A finished run's metrics (a sweep's warm-up and a path search have none of its costs)."""
    return "costs" in metrics


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 32


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
