"""Ray sweeps at the edges: an unreachable cluster and impossible resources refused in one line before any
folder exists, a failed or killed point reported with its own one-line reason while the others finish,
and (slow, a real local cluster) a killed worker retried until the sweep finishes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from test_ray_sweep import InProcessRay, _points

from bitgate.cli import main
from search import ray_sweep
from search.config import ConfigError, SearchConfig
from search.ray_sweep import PointsFailed, RayExecutor
from search.sweep import SweepConfig, sweep

pytest.importorskip("ray")


@pytest.fixture
def tiny(tmp_path, one_epoch_cfg) -> SearchConfig:
    return one_epoch_cfg(tmp_path / "runs", device="cpu")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_unreachable_address_is_one_line_and_writes_no_folder(tiny, capsys):
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(ConfigError, match=f"no Ray cluster at {address}"):
        sweep(tiny, SweepConfig(strengths=(0.1,)), executor=RayExecutor(address=address))
    assert not Path(tiny.out_dir).exists()
    code = main(
        [
            "sweep",
            "--set",
            "dataset=synthetic",
            "--set",
            f"out_dir={tiny.out_dir}",
            "--executor",
            "ray",
            "--address",
            address,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "ray start --head" in err
    assert not Path(tiny.out_dir).exists()


def test_auto_without_a_cluster_is_one_line(tiny, monkeypatch):
    import ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if ray.is_initialized():
        pytest.skip("a Ray cluster runs in this process")
    with pytest.raises(ConfigError, match="cannot start or join a Ray cluster at auto"):
        sweep(tiny, SweepConfig(strengths=(0.1,)), executor=RayExecutor(address="auto"))
    assert not Path(tiny.out_dir).exists()


def test_resources_no_node_has_are_refused_in_one_line(tiny, monkeypatch):
    fake = InProcessRay(nodes=[{"CPU": 8.0}, {"CPU": 2.0, "GPU": 1.0}])
    monkeypatch.setattr(RayExecutor, "_ray", lambda self: fake)
    with pytest.raises(ConfigError, match=r"no node .* has 4 CPU\(s\) and 1 GPU\(s\)"):
        sweep(tiny, SweepConfig(strengths=(0.1,)), executor=RayExecutor(cpus_per_point=4, gpus_per_point=1))
    assert not Path(tiny.out_dir).exists() and fake.jobs == []
    RayExecutor(cpus_per_point=2, gpus_per_point=1).connect()  # the second node can run a point


class _Cause(Exception):
    pass


class _TaskError(Exception):
    """Like ray.exceptions.RayTaskError: a traceback with colour codes, the task's own exception in `cause`."""

    def __init__(self, cause: Exception) -> None:
        super().__init__("\x1b[36mray::_job()\x1b[39m (pid=123, ip=10.0.0.1)\nTraceback (most recent call last):")
        self.cause = cause


def _failing_job(bad_strength: float, error):
    def job(kind, cfg_json, *args):
        if kind == "point" and f'"strength": {bad_strength}' in cfg_json:
            raise error
        return ray_sweep._job(kind, cfg_json, *args)

    return job


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (_TaskError(_Cause("the data set vanished\nmore lines")), "_Cause: the data set vanished"),
        (__import__("ray").exceptions.WorkerCrashedError(), "its worker died (WorkerCrashedError"),
    ],
)
def test_a_failed_point_is_reported_in_one_line_and_the_others_finish(tiny, monkeypatch, error, reason):
    monkeypatch.setattr(RayExecutor, "_ray", lambda self: InProcessRay())
    executor = RayExecutor(job=_failing_job(3.0, error))
    with pytest.raises(PointsFailed) as info:
        sweep(tiny, SweepConfig(strengths=(0.1, 3.0, 1.0), name="s"), executor=executor)
    message = str(info.value)
    assert message.startswith("1 of 3 points failed (01-") and reason in message and "\n" not in message
    assert "\x1b" not in message and "Traceback" not in message
    finished = [p for p in _points(Path(tiny.out_dir) / "s") if (p / "metrics.json").exists()]
    assert [p.name[:2] for p in finished] == ["00", "02"]  # the other points finished
    assert not list(Path(tiny.out_dir).rglob(ray_sweep.TOKEN))


def test_a_task_on_the_drivers_file_system_runs_in_the_point_folder(tiny, monkeypatch):
    fake = InProcessRay()
    monkeypatch.setattr(RayExecutor, "_ray", lambda self: fake)
    seen = []

    def job(kind, cfg_json, files, warm, threads, folder, token):
        seen.append(ray_sweep._shared(folder, token))
        return ray_sweep._job(kind, cfg_json, files, warm, threads, folder, token)

    folder, results = sweep(tiny, SweepConfig(strengths=(0.1,), name="s"), executor=RayExecutor(job=job))
    assert seen == [True, True] and len(results) == 1  # warm-up and point: in place, so a retry resumes there
    assert not ray_sweep._shared(str(folder), "another token")


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_the_sweep_finishes(tiny, tmp_path):
    """A real local cluster; the first attempt of one point kills its own worker process."""
    ray = pytest.importorskip("ray")
    import test_ray_failures

    ray.cloudpickle.register_pickle_by_value(test_ray_failures)  # the job below is shipped to the workers by value
    marker = tmp_path / "killed-once"
    ray.init(num_cpus=2, log_to_driver=False)
    try:
        folder, results = sweep(
            tiny, SweepConfig(strengths=(0.1, 3.0), name="k"), executor=RayExecutor(job=_killing_job(str(marker)))
        )
        assert marker.exists() and len(results) == 2
        assert all((p / "metrics.json").exists() for p in _points(folder))
    finally:
        ray.shutdown()


def _killing_job(marker: str):
    def job(kind, cfg_json, *args):
        if kind == "point" and '"strength": 3.0' in cfg_json and not os.path.exists(marker):
            Path(marker).touch()
            os._exit(1)  # the worker process dies: Ray sees a crashed worker and retries the task
        return ray_sweep._job(kind, cfg_json, *args)

    return job
