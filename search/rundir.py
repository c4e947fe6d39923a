"""A run's folder: atomic writes, never overwriting another run, and resumable checkpoints.

Layout: config.json, history.csv (one row per epoch of every phase), arch.json,
metrics.json, checkpoints/<phase>.pt (the state after the phase's last finished epoch).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from search import ddp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file.

    In a DDP search only rank 0 writes (search.ddp); the other ranks' writes are skipped here.
    """
    if not ddp.is_main():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def atomic_torch_save(path: Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def new_run_dir(parent: Path, name: str) -> Path:
    """Create parent/name, or parent/name-2, -3, ...: runs never overwrite each other.

    In a DDP search rank 0 creates it and every rank gets its path.
    """
    if ddp.active():
        return Path(ddp.agree(str(_new_run_dir(parent, name)) if ddp.is_main() else None))
    return _new_run_dir(parent, name)


def _new_run_dir(parent: Path, name: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        path = parent / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder name for {name!r} in {parent}")


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
        ckpt = torch.load(path, map_location="cpu", weights_only=True)  # data, never code; any device -> CPU
        for k, v in objects.items():
            v.load_state_dict(ckpt["state"][k])
        return int(ckpt["epoch"]), ckpt.get("extra", {})
