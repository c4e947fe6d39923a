"""Sweeps on Ray: the same folder, files and architectures as in-process; --resume skips finished points.

The plumbing (tasks receive and return files, results land in order, resume) is tested in the default
suite with an in-process stand-in for the four Ray calls the executor makes; a real local Ray cluster
takes ~10 s to start on two cores, so that end-to-end test is marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bitgate.cli import main
from search.config import ConfigError, SearchConfig
from search.ray_sweep import RayExecutor
from search.sweep import SweepConfig, sweep

ROOT = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _points(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name[:2].isdigit())


def _same_sweep(local: Path, remote: Path) -> None:
    assert _files(local) == _files(remote)
    for a, b in zip(_points(local), _points(remote), strict=True):
        assert (a / "arch.json").read_text() == (b / "arch.json").read_text()
        ca, cb = json.loads((a / "config.json").read_text()), json.loads((b / "config.json").read_text())
        assert {**ca, "out_dir": None} == {**cb, "out_dir": None}  # the sweep folders' names differ
        ma, mb = json.loads((a / "metrics.json").read_text()), json.loads((b / "metrics.json").read_text())
        assert {**ma, "seconds": None} == {**mb, "seconds": None}


class _Ref:
    def __init__(self, value) -> None:
        self.value = value


class InProcessRay:
    """The Ray calls RayExecutor makes, run synchronously here; `wait` returns the LAST pending task first."""

    def __init__(self, nodes: list[dict] | None = None) -> None:
        self.jobs: list[str] = []
        self.resources: list[dict] = []
        self.node_resources = nodes if nodes is not None else [{"CPU": 4.0, "GPU": 1.0}]

    def is_initialized(self) -> bool:
        return True

    def nodes(self) -> list[dict]:
        return [{"Alive": True, "Resources": r} for r in self.node_resources]

    def remote(self, **resources):
        self.resources.append(resources)

        def wrap(fn):
            outer = self

            class Task:
                def remote(self, *args):
                    outer.jobs.append(args[0])
                    try:
                        return _Ref(fn(*[a.value if isinstance(a, _Ref) else a for a in args]))
                    except Exception as exc:  # as Ray does: the error comes out of get()
                        return _Ref(exc)

            return Task()

        return wrap

    def put(self, value):
        return _Ref(value)

    def get(self, ref):
        if isinstance(ref.value, Exception):
            raise ref.value
        return ref.value

    def wait(self, refs, num_returns=1):
        return refs[-num_returns:], refs[:-num_returns]


@pytest.fixture
def tiny(tmp_path, one_epoch_cfg) -> SearchConfig:
    return one_epoch_cfg(tmp_path, device="cpu")


def test_executor_plumbing_matches_local_sweep_and_resumes(tiny, monkeypatch):
    fake = InProcessRay()
    monkeypatch.setattr(RayExecutor, "_ray", lambda self: fake)
    local, _ = sweep(tiny, SweepConfig(strengths=(0.1, 3.0), name="local"))
    remote, results = sweep(
        tiny, SweepConfig(strengths=(0.1, 3.0), name="ray"), executor=RayExecutor(cpus_per_point=1, gpus_per_point=0.5)
    )
    assert fake.jobs == ["warmup", "point", "point"]
    assert fake.resources[0] == {"num_cpus": 1, "num_gpus": 0.5, "max_retries": 2}
    assert [m["strength"] for m in results] == [0.1, 3.0]  # in point order although the last finished first
    _same_sweep(local, remote)
    finished, unfinished = _points(remote)
    (unfinished / "metrics.json").unlink()
    stamp = (finished / "metrics.json").stat().st_mtime_ns
    fake.jobs.clear()
    _, again = sweep(tiny, SweepConfig(strengths=(0.1, 3.0), name="ray"), resume=remote, executor=RayExecutor())
    assert fake.jobs == ["point"]  # no second warm-up, the finished point skipped
    assert (finished / "metrics.json").stat().st_mtime_ns == stamp
    assert again[0] == results[0] and again[1]["cost"] == results[1]["cost"]
    _same_sweep(local, remote)


def test_local_sweep_never_imports_ray():
    code = (
        "import sys, bitgate.cli, bitgate.commands, search.sweep, search.run; "
        "sys.exit('ray' in sys.modules or 'search.ray_sweep' not in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_ray_options_without_ray_executor_are_refused(capsys):
    assert main(["sweep", "--set", "dataset=synthetic", "--gpus-per-point", "1"]) == 2
    assert "need --executor ray" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--cpus-per-point must be > 0"):
        RayExecutor(cpus_per_point=0)


@pytest.mark.slow
def test_local_ray_cluster_sweep_matches_in_process_sweep(tiny):
    ray = pytest.importorskip("ray")
    cfg = replace(tiny, dataset="digits")
    local, _ = sweep(cfg, SweepConfig(strengths=(0.1, 3.0), name="local"))
    ray.init(num_cpus=2, log_to_driver=False)
    try:
        remote, results = sweep(cfg, SweepConfig(strengths=(0.1, 3.0), name="ray"), executor=RayExecutor())
        _same_sweep(local, remote)
        finished, unfinished = _points(remote)
        (unfinished / "metrics.json").unlink()
        stamps = [(p / "metrics.json").stat().st_mtime_ns for p in (finished, remote / "warmup")]
        _, again = sweep(cfg, SweepConfig(strengths=(0.1, 3.0)), resume=remote, executor=RayExecutor())
        assert [(p / "metrics.json").stat().st_mtime_ns for p in (finished, remote / "warmup")] == stamps
        assert (unfinished / "arch.json").read_text() == (local / unfinished.name / "arch.json").read_text()
        assert again[0] == results[0]
    finally:
        ray.shutdown()
