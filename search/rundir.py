"""A run's folder: atomic writes, never overwriting another run, and resumable checkpoints.

Layout: config.json, history.csv (one row per epoch of every phase), arch.json,
metrics.json, checkpoints/<phase>.pt (the state after the phase's last finished epoch).
"""

from __future__ import annotations

import csv
import io
import json
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from deploy.files import write_atomic
from search import ddp
from search.config import ConfigError
from zoo.safe_load import load_failure, one_line_of, safe_torch_load


class RunFileError(ConfigError):
    """A file in a run folder is missing, truncated, corrupt or not bitgate's: one line naming the file."""


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block is done, so a checkpoint being written is never left half done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *args: caught.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file.

    In a DDP search only rank 0 writes (search.ddp); the other ranks' writes are skipped here.
    """
    if not ddp.is_main():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def atomic_torch_save(path: Path, obj: Any) -> None:
    """Save plain data (tensors, numbers, strings, lists, dicts) that `load_tensors` reads back."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    with deferred_interrupt():
        atomic_write_bytes(path, buf.getvalue())


def load_tensors(path: Path, required: Sequence[str] = ()) -> dict[str, Any]:
    """torch.load with weights_only=True: a run folder's file is data and never runs code.

    Anything else (a pickled object, a truncated or foreign file) is a RunFileError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"{path} does not exist")
    try:
        obj = safe_torch_load(path)
    except Exception as exc:  # UnpicklingError, RuntimeError (zip), EOFError, ... all mean "not ours"
        raise RunFileError(f"{path} is not a valid checkpoint ({load_failure(exc)})") from None
    missing = [k for k in required if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise RunFileError(f"{path} is not a valid checkpoint (no {missing[0]!r} entry)")
    return obj


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the `.name.*.tmp` files an atomic write leaves when its process is killed (SIGKILL)."""
    stale = [p for p in Path(folder).rglob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def new_run_dir(parent: Path, name: str) -> Path:
    """Create parent/name, or parent/name-2, -3, ...: runs never overwrite each other.

    In a DDP search rank 0 creates it and every rank gets its path.
    """
    if ddp.active():
        return Path(ddp.agree(str(_new_run_dir(parent, name)) if ddp.is_main() else None))
    return _new_run_dir(parent, name)


def _new_run_dir(parent: Path, name: str) -> Path:
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for i in range(1, 10_000):
            path = parent / (name if i == 1 else f"{name}-{i}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as exc:  # PermissionError, NotADirectoryError, a name too long, a read-only disk, ...
        raise ConfigError(f"cannot create a run folder in {parent}: {exc.strerror or exc}") from None
    raise ConfigError(f"no free run folder name for {name!r} in {parent}")


class History:
    """Per-epoch metrics of every phase, rewritten atomically; a resumed epoch replaces its old row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.exists():
            with path.open() as f:
                self.rows = list(csv.DictReader(f))

    def log(self, phase: str, epoch: int, metrics: dict[str, Any]) -> None:
        row = {"phase": phase, "epoch": epoch, **metrics}
        self.rows = [r for r in self.rows if not (r["phase"] == phase and int(r["epoch"]) == epoch)]
        self.rows.append(row)
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())


class Checkpoints:
    """checkpoints/<phase>.pt holds {"epoch": next epoch to run, "state": {name: state_dict}}."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, phase: str) -> Path:
        return self.folder / f"{phase}.pt"

    def save(self, phase: str, next_epoch: int, objects: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        state = {k: v.state_dict() for k, v in objects.items()}
        atomic_torch_save(self.path(phase), {"epoch": next_epoch, "state": state, "extra": extra or {}})

    def restore(self, phase: str, objects: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Load the phase's checkpoint into `objects`; returns (next epoch to run, extra) or (0, {})."""
        path = self.path(phase)
        if not path.exists():
            return 0, {}
        ckpt = load_tensors(path, required=("epoch", "state"))
        try:
            for k, v in objects.items():
                v.load_state_dict(ckpt["state"][k])
            return int(ckpt["epoch"]), dict(ckpt.get("extra") or {})
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as exc:
            raise RunFileError(f"{path} does not match this run's {phase} phase ({one_line_of(exc)})") from None

    def replace_state(self, phase: str, key: str, state: dict[str, Any]) -> None:
        """Overwrite one object's state in a finished phase's checkpoint (e.g. the best epoch's weights
        that early stopping kept), leaving its epoch and the other states as they were."""
        ckpt = load_tensors(self.path(phase), required=("epoch", "state"))
        ckpt["state"][key] = {k: v.detach().cpu().clone() for k, v in state.items()}
        atomic_torch_save(self.path(phase), ckpt)

    def load_state(self, phase: str, key: str) -> dict[str, Any]:
        """One saved state dict (e.g. a sweep's warmed-up model) from checkpoints/<phase>.pt."""
        ckpt = load_tensors(self.path(phase), required=("state",))
        if key not in ckpt["state"]:
            raise RunFileError(f"{self.path(phase)} is not a valid checkpoint (no state for {key!r})")
        return ckpt["state"][key]
