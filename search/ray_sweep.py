"""A sweep's warm-up and points as Ray tasks, on whatever cluster an address names.

Ray (https://docs.ray.io) schedules each task on a node with the resources it asks for (a GPU per
point, N CPUs per point), so a front's points train in parallel over several GPUs or machines.
Imported only for `bitgate sweep --executor ray`; without it nothing here (nor Ray) is loaded.

The nodes need not share a file system: a task runs in a temporary folder on its node, receives
the files it resumes from (the warm-up checkpoint, an unfinished point's checkpoints) as bytes and
returns every file it wrote; the driver writes them into the sweep folder, metrics.json last, so a
point counts as finished (and `--resume` skips it) only once all of its files are there. Where the
sweep folder is shared (the node sees the driver's token file in the point's folder), the task runs in
that folder itself, so its checkpoints are there as it writes them. Every node needs bitgate installed
(same version) and the data set readable (`data_root`, or `download=true`).

Failures (search/ray_cluster.py): the cluster is joined and checked before the sweep folder exists
(an unreachable address, resources no node has: one line each); a task whose worker dies is retried
(`retries` times) and resumes from its own last checkpoint on a shared folder, else restarts; a point
that still fails is reported with its own one-line reason while the other points finish.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search import ray_cluster
from search.config import ConfigError, SearchConfig
from search.rundir import atomic_write_bytes

Files = dict[str, bytes]  # path relative to a run folder -> content
TOKEN = ".bitgate-driver"  # written by the driver into a folder a task may run in, removed when it returns


class PointsFailed(ConfigError):
    """Some points failed for good (the others finished): one line naming them and why."""


@dataclass(frozen=True)
class RayExecutor:
    """Where and with what each task runs: `address` None starts a local Ray, 'auto' joins a running one."""

    address: str | None = None
    cpus_per_point: float = 1.0
    gpus_per_point: float = 0.0
    retries: int = 2  # a task whose worker dies (killed, out of memory, node lost) runs again, up to this often
    job: Callable[..., Files] | None = field(default=None, repr=False)  # the task's function (tests replace it)

    def __post_init__(self) -> None:
        if not self.cpus_per_point > 0 or self.gpus_per_point < 0:
            raise ConfigError(
                f"--cpus-per-point must be > 0 and --gpus-per-point >= 0, got "
                f"{self.cpus_per_point:g} and {self.gpus_per_point:g}"
            )
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0, got {self.retries}")

    def _ray(self):
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'bitgate[ray]'") from None
        return ray

    def connect(self):
        """Join (or start) the cluster and check it can run a point: before the sweep writes anything."""
        ray = self._ray()
        ray_cluster.connect(ray, self.address)
        ray_cluster.check_resources(ray, self.cpus_per_point, self.gpus_per_point)
        return ray

    def _task(self, ray):
        return ray.remote(num_cpus=self.cpus_per_point, num_gpus=self.gpus_per_point, max_retries=self.retries)(
            self.job or _job
        )

    def warmup(self, cfg: SearchConfig, folder: Path) -> Path:
        """The shared float warm-up as one task with a point's resources; returns its checkpoint."""
        ray = self.connect()
        token = _offer(folder)
        try:
            ref = self._task(ray).remote(
                "warmup", cfg.to_json(), read_files(folder), None, self.cpus_per_point, str(folder), token
            )
            files = ray.get(ref)
        except Exception as exc:  # the warm-up is needed by every point: its failure ends the sweep
            raise ConfigError(f"the sweep's warm-up failed: {ray_cluster.task_error(exc, self.retries + 1)}") from None
        finally:
            (folder / TOKEN).unlink(missing_ok=True)
        write_files(folder, files)
        return folder / "checkpoints" / "warmup.pt"

    def run_points(self, points: list[tuple[SearchConfig, Path]], warm_state: Path) -> list[dict[str, Any] | None]:
        """Every point as a task; each result is written as soon as its task returns. Returns metrics in order,
        None for a point that failed; raises PointsFailed (after every other point finished) if any did."""
        ray = self.connect()
        task = self._task(ray)
        warm = ray.put(warm_state.read_bytes())
        pending = {}
        for i, (cfg, run_dir) in enumerate(points):
            token = _offer(run_dir)
            ref = task.remote(
                "point", cfg.to_json(), read_files(run_dir), warm, self.cpus_per_point, str(run_dir), token
            )
            pending[ref] = i
        results: list[dict[str, Any] | None] = [None] * len(points)
        failed: list[str] = []
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done)
            run_dir = points[i][1]
            try:
                files = ray.get(done)
            except Exception as exc:  # reported once every other point has finished
                failed.append(f"{run_dir.name}: {ray_cluster.task_error(exc, self.retries + 1)}")
                continue
            finally:
                (run_dir / TOKEN).unlink(missing_ok=True)
            write_files(run_dir, files)
            results[i] = json.loads((run_dir / "metrics.json").read_text())
        if failed:
            raise PointsFailed(
                f"{len(failed)} of {len(points)} points failed ({'; '.join(failed)}); the others "
                f"finished: rerun the failed ones with --resume"
            )
        return results


def _offer(folder: Path) -> str:
    """A random token in `folder`: a task that reads it there shares the driver's file system."""
    token = secrets.token_hex(8)
    atomic_write_bytes(folder / TOKEN, token.encode())
    return token


def _shared(folder: str, token: str | None) -> bool:
    try:
        return token is not None and (Path(folder) / TOKEN).read_text() == token
    except OSError:
        return False


def _job(
    kind: str,
    cfg_json: str,
    files: Files,
    warm: bytes | None,
    threads: float,
    folder: str = "",
    token: str | None = None,
) -> Files:
    """Runs on a Ray worker: the warm-up or one point, in the shared sweep folder when this node sees it (a
    retry then resumes from the point's last checkpoint), else in a temporary folder whose files it returns."""
    import torch

    from search.preflight import run_target
    from search.run import run
    from search.warm_start import shared_warmup
    from targets.snapshot import snapshot_files

    torch.set_num_threads(max(1, int(threads)))  # the CPUs Ray reserved for this task, no more
    cfg = SearchConfig.from_dict(json.loads(cfg_json))
    shared = _shared(folder, token)
    with tempfile.TemporaryDirectory(prefix="bitgate-") as tmp:
        here = Path(folder) if shared else Path(tmp) / "run"
        if not shared:
            write_files(here, files)
        if kind == "warmup":
            shared_warmup(cfg, here)
        else:
            if not (here / "config.json").exists():  # a new point: the files a local run starts its folder with
                atomic_write_bytes(here / "config.json", cfg_json.encode())
                for name, content in snapshot_files(run_target(cfg)).items():
                    atomic_write_bytes(here / name, content)
            atomic_write_bytes(Path(tmp) / "warmup.pt", warm)
            run(cfg, resume=here, warm_state=Path(tmp) / "warmup.pt")
        return {} if shared else read_files(here)


def read_files(folder: Path) -> Files:
    """Every file under `folder` (none if it does not exist), by relative path."""
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != TOKEN
    }


def write_files(folder: Path, files: Files) -> None:
    """Atomically write `files` under `folder`, metrics.json last (it marks a finished run)."""
    for rel in sorted(files, key=lambda r: r == "metrics.json"):
        atomic_write_bytes(folder / rel, files[rel])
