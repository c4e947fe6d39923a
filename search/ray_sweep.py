"""A sweep's warm-up and points as Ray tasks, on whatever cluster an address names.

Ray (https://docs.ray.io) schedules each task on a node with the resources it asks for (a GPU per
point, N CPUs per point), so a front's points train in parallel over several GPUs or machines.
Imported only for `bitgate sweep --executor ray`; without it nothing here (nor Ray) is loaded.

The nodes need not share a file system: a task runs in a temporary folder on its node, receives
the files it resumes from (the warm-up checkpoint, an unfinished point's checkpoints) as bytes and
returns every file it wrote; the driver writes them into the sweep folder, metrics.json last, so a
point counts as finished (and `--resume` skips it) only once all of its files are there. Every node
needs bitgate installed (same version) and the data set readable (`data_root`, or `download=true`).
A point that was running when the driver stopped restarts from its last checkpoint that reached
the driver: the start of the point (checkpoints stay on the worker until the task returns).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.config import ConfigError, SearchConfig
from search.rundir import atomic_write_bytes

Files = dict[str, bytes]  # path relative to a run folder -> content


@dataclass(frozen=True)
class RayExecutor:
    """Where and with what each task runs: `address` None starts a local Ray, 'auto' joins a running one."""

    address: str | None = None
    cpus_per_point: float = 1.0
    gpus_per_point: float = 0.0

    def __post_init__(self) -> None:
        if not self.cpus_per_point > 0 or self.gpus_per_point < 0:
            raise ConfigError(f"--cpus-per-point must be > 0 and --gpus-per-point >= 0, got "
                              f"{self.cpus_per_point:g} and {self.gpus_per_point:g}")  # fmt: skip

    def _ray(self):
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'bitgate[ray]'") from None
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False)
        return ray

    def _task(self, ray):
        return ray.remote(num_cpus=self.cpus_per_point, num_gpus=self.gpus_per_point, max_retries=0)(_job)

    def warmup(self, cfg: SearchConfig, folder: Path) -> Path:
        """The shared float warm-up as one task with a point's resources; returns its checkpoint."""
        ray = self._ray()
        files = ray.get(self._task(ray).remote("warmup", cfg.to_json(), read_files(folder), None,
                                               self.cpus_per_point))  # fmt: skip
        write_files(folder, files)
        return folder / "checkpoints" / "warmup.pt"

    def run_points(self, points: list[tuple[SearchConfig, Path]], warm_state: Path) -> list[dict[str, Any]]:
        """Every point as a task; each result is written as soon as its task returns. Returns metrics in order."""
        ray = self._ray()
        task = self._task(ray)
        warm = ray.put(warm_state.read_bytes())
        pending = {}
        for i, (cfg, run_dir) in enumerate(points):
            ref = task.remote("point", cfg.to_json(), read_files(run_dir), warm, self.cpus_per_point)
            pending[ref] = i
        results: list[dict[str, Any] | None] = [None] * len(points)
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done)
            run_dir = points[i][1]
            write_files(run_dir, ray.get(done))
            results[i] = json.loads((run_dir / "metrics.json").read_text())
        return results


def _job(kind: str, cfg_json: str, files: Files, warm: bytes | None, threads: float) -> Files:
    """Runs on a Ray worker: the warm-up or one point, in a temporary folder; returns the folder's files."""
    import torch

    from search.run import run
    from search.warm_start import shared_warmup

    torch.set_num_threads(max(1, int(threads)))  # the CPUs Ray reserved for this task, no more
    cfg = SearchConfig.from_dict(json.loads(cfg_json))
    with tempfile.TemporaryDirectory(prefix="bitgate-") as tmp:
        folder = Path(tmp) / "run"
        write_files(folder, files)
        if kind == "warmup":
            shared_warmup(cfg, folder)
        else:
            if not (folder / "config.json").exists():  # a new point: the config.json a local run writes
                atomic_write_bytes(folder / "config.json", cfg_json.encode())
            atomic_write_bytes(Path(tmp) / "warmup.pt", warm)
            run(cfg, resume=folder, warm_state=Path(tmp) / "warmup.pt")
        return read_files(folder)


def read_files(folder: Path) -> Files:
    """Every file under `folder` (none if it does not exist), by relative path."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_files(folder: Path, files: Files) -> None:
    """Atomically write `files` under `folder`, metrics.json last (it marks a finished run)."""
    for rel in sorted(files, key=lambda r: r == "metrics.json"):
        atomic_write_bytes(folder / rel, files[rel])
