"""Name -> Target registry, filled lazily from data files and plugins on first lookup.

Sources, in order: built-in `targets/devices/*.toml`; Python modules in
`targets/devices/` that define `TARGET` (a Target) or `TARGETS` (a list); every `*.toml`
in the directories (or files) listed in the BITGATE_TARGETS_PATH environment variable
(os.pathsep-separated); entry points in group `bitgate.targets` whose value is a Target
or a zero-argument callable returning one. `register_target` adds one at run time.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from targets.target import Target

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ENV_PATH = "BITGATE_TARGETS_PATH"
ENTRY_POINT_GROUP = "bitgate.targets"
DEVICES_DIR = Path(__file__).parent / "devices"
REQUIRED_KEYS = ("flash_bytes", "ram_bytes", "clock_hz", "weight_bits", "act_bits", "costs")
OPTIONAL_KEYS = ("name", "description", "family", "default_act_bits", "storage_bits", "params", "flavour")

_TARGETS: dict[str, Target] = {}
_loaded = False


class UnknownTarget(KeyError, ValueError):
    """Raised for an unknown target name; printed as one plain line."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_target(target: Target, *, replace: bool = False) -> Target:
    """Add `target` under target.name; a second target with the same name is an error unless replace."""
    _ensure_loaded()
    return _add(target, replace)


def unregister_target(name: str) -> None:
    """Remove a target (tests, or a plugin that wants to replace a built-in)."""
    _ensure_loaded()
    _TARGETS.pop(name, None)


def get_target(name: str) -> Target:
    """The registered target `name`; unknown names list the known ones in one line."""
    _ensure_loaded()
    try:
        return _TARGETS[name]
    except KeyError:
        raise UnknownTarget(f"unknown target {name!r}; known: {', '.join(target_names())}") from None


def target_names() -> list[str]:
    _ensure_loaded()
    return sorted(_TARGETS)


def load_target_toml(path: str | Path) -> Target:
    """Read and validate one device file (schema: targets/devices/*.toml); `name` defaults to the file stem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if text.startswith("\ufeff"):
            raise ValueError(
                "it starts with a UTF-8 byte-order mark (BOM), which TOML does not allow: save it as UTF-8 without BOM"
            )
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ValueError(f"{path}: cannot read target TOML: {exc}") from None
    unknown = sorted(set(data) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)})")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path}: missing required key {missing[0]!r}")
    for key in ("storage_bits", "params"):
        if not isinstance(data.get(key, {}), dict):
            raise ValueError(f"{path}: {key!r} must be a table")
    try:
        storage = {int(k): v for k, v in data.get("storage_bits", {}).items()}
    except ValueError:
        raise ValueError(f"{path}: 'storage_bits' keys must be bit-widths like \"4\"") from None
    fields: dict[str, Any] = {k: data[k] for k in REQUIRED_KEYS + OPTIONAL_KEYS if k in data}
    table = fields.get("params", {}).get("latency_table")
    if isinstance(table, str) and table.endswith(".toml") and not Path(table).is_absolute():  # beside this file
        fields["params"] = {**fields["params"], "latency_table": str(path.parent / table)}
    fields.update(name=data.get("name", path.stem), description=data.get("description", ""), storage_bits=storage)
    try:
        return Target(**fields)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_target_dir(directory: str | Path, *, replace: bool = False) -> list[Target]:
    """Register every *.toml in `directory` (sorted), e.g. a project's own device folder."""
    return [register_target(load_target_toml(p), replace=replace) for p in sorted(Path(directory).glob("*.toml"))]


def reset_registry() -> None:
    """Forget every target; the next lookup reloads all sources (for tests and env changes)."""
    global _loaded
    _TARGETS.clear()
    _loaded = False


def _add(target: Target, replace: bool) -> Target:
    if not isinstance(target, Target):
        raise TypeError(f"register_target expects a Target, got {type(target).__name__}")
    if target.name in _TARGETS and not replace and _TARGETS[target.name] != target:
        raise ValueError(f"target {target.name!r} already registered (pass replace=True to override)")
    _check_costs(target)
    _TARGETS[target.name] = target
    return target


def _check_costs(target: Target) -> None:
    """Every name in target.costs must be a registered cost model that applies to the target."""
    from cost_models import registry as costs  # lazy: cost_models imports targets.target

    for name in target.costs:
        if name not in costs.COST_MODELS:
            known = ", ".join(costs.names())
            raise ValueError(f"target {target.name!r}: unknown cost model {name!r} in costs; known: {known}")
        if not costs.COST_MODELS[name].applies_to(target):
            raise ValueError(f"target {target.name!r}: cost model {name!r} does not apply to family {target.family!r}")


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True  # set first: loaders call register_target
    for path in sorted(DEVICES_DIR.glob("*.toml")):
        _add(load_target_toml(path), replace=False)
    for path in sorted(DEVICES_DIR.glob("*.py")):
        if not path.name.startswith("_"):
            mod = _import_file(path)
            for target in _as_list(getattr(mod, "TARGET", None)) + _as_list(getattr(mod, "TARGETS", None)):
                _add(target, replace=False)
    for entry in filter(None, os.environ.get(ENV_PATH, "").split(os.pathsep)):
        if not (Path(entry).is_dir() or entry.endswith(".toml")):
            raise ValueError(f"{ENV_PATH}: {entry!r} is neither a directory nor a .toml file")
        paths = [Path(entry)] if entry.endswith(".toml") else sorted(Path(entry).glob("*.toml"))
        for path in paths:
            _add(load_target_toml(path), replace=True)  # user files may override built-ins
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            _add(obj() if callable(obj) and not isinstance(obj, Target) else obj, replace=False)
        except Exception as exc:  # a broken plugin must not hide every other target
            warnings.warn(f"bitgate: skipping target entry point {ep.name!r} ({ep.value}): {exc}", stacklevel=2)


def _import_file(path: Path) -> ModuleType:
    """Import a device module by path, as targets.devices.<stem> (it may also call register_target)."""
    name = f"targets.devices.{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import device file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _as_list(value: Target | Iterable[Target] | None) -> list[Target]:
    if value is None:
        return []
    return [value] if isinstance(value, Target) else list(value)
