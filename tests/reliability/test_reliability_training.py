"""Training guards: divergence stops a phase and keeps the last finite checkpoint; Ctrl-C and SIGKILL
leave a run that resumes to the same architecture; progress lines appear when output is piped."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import pytest
import torch
from reliability_helpers import run_subprocess, tiny_args

import search.train
from search.rundir import load_tensors


def test_lr_1e6_stops_with_one_line_and_no_nan_checkpoint(cli, tmp_path):
    out = tmp_path / "runs"
    line = cli("search", *tiny_args(out, "lr=1e6", "warmup_epochs=2", "name=r")).one_line_error(code=3)
    assert "warmup diverged at epoch 1/2" in line and line.endswith(f"--resume {out / 'r'} --set lr=0.001")
    assert not (out / "r" / "checkpoints" / "warmup.pt").exists() and not (out / "r" / "metrics.json").exists()
    result = cli("search", "--resume", out / "r", "--set", "lr=1e-3")  # the explicit, allowed override
    assert result.code == 0, result.err
    assert json.loads((out / "r" / "config.json").read_text())["lr"] == 1e-3
    assert (out / "r" / "metrics.json").exists()


def test_divergence_keeps_the_last_finite_checkpoint(cli, tmp_path, monkeypatch):
    real, calls = search.train.train_epoch, []

    def poisoned(model, ctx, optimizer, gen, penalty=None):
        calls.append(1)
        metrics = real(model, ctx, optimizer, gen, penalty)
        if len(calls) == 2:  # the second warm-up epoch blows the weights up
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))
            metrics["loss"] = float("nan")
        return metrics

    monkeypatch.setattr(search.train, "train_epoch", poisoned)
    out = tmp_path / "runs"
    line = cli("search", *tiny_args(out, "warmup_epochs=3", "name=r")).one_line_error(code=3)
    assert "warmup diverged at epoch 2/3 (loss nan)" in line and "kept the checkpoint of epoch 1" in line
    ckpt = load_tensors(out / "r" / "checkpoints" / "warmup.pt")
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["state"]["model"].values())
    rows = (out / "r" / "history.csv").read_text().splitlines()
    assert any(math.isnan(float(r.split(",")[2])) for r in rows[1:])  # the bad epoch is visible in history.csv


def test_resume_refuses_other_overrides(cli, finished_run):
    line = cli("search", "--resume", finished_run, "--set", "finetune_epochs=8").one_line_error()
    assert "finetune_epochs" in line and "lr" in line
    assert "drop --config" in cli("search", "--resume", finished_run, "--config", "x.toml").one_line_error()


def test_resume_of_a_folder_that_is_no_run(cli, tmp_path):
    assert "no config.json" in cli("search", "--resume", tmp_path).one_line_error()


def _lines_until(proc, needle: str) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never printed; stdout: {''.join(lines)} stderr: {proc.stderr.read()}")


SLOW_TINY = ("batch_size=16", "search_epochs=6", "progress=true")


def _arch(run_dir: Path) -> dict:
    return json.loads((run_dir / "arch.json").read_text())["layers"]


@pytest.fixture(scope="module")
def reference_arch(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference")
    proc = run_subprocess(["search", *tiny_args(out, *SLOW_TINY, "name=ref")])
    assert proc.communicate(timeout=300) and proc.returncode == 0, proc.stderr
    return _arch(out / "ref")


def test_ctrl_c_says_how_to_resume_and_resumes_to_the_same_arch(tmp_path, reference_arch):
    out = tmp_path / "runs"
    proc = run_subprocess(["search", *tiny_args(out, *SLOW_TINY, "name=r")])
    lines = _lines_until(proc, "search 2/6")
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [f"bitgate search: interrupted; resume with bitgate search --resume {out / 'r'}"]
    # progress with stdout piped: the run folder first, then one line per epoch with ETA
    text = "".join(lines)
    assert f"run folder: {out / 'r'}" in lines[0]
    assert "joint warmup 1/1: loss" in text and "val acc" in text and "ETA" in text and "cost" in text
    assert not (out / "r" / "arch.json").exists()
    proc = run_subprocess(["search", "--resume", out / "r"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert _arch(out / "r") == reference_arch


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_same_arch_and_no_leftovers(tmp_path, reference_arch):
    out = tmp_path / "runs"
    proc = run_subprocess(["search", *tiny_args(out, *SLOW_TINY, "name=r")])
    _lines_until(proc, "search 3/6")
    proc.kill()
    proc.communicate(timeout=60)
    stale = out / "r" / "checkpoints" / ".search.pt.x1y2z3.tmp"  # what a kill during a checkpoint write leaves
    stale.write_bytes(b"half a checkpoint")
    proc = run_subprocess(["search", "--resume", out / "r"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert _arch(out / "r") == reference_arch
    assert not list((out / "r").rglob("*.tmp"))


def test_diverged_sweep_resumes_with_a_lower_lr(cli, tmp_path):
    out = tmp_path / "runs"
    args = tiny_args(out, "lr=1e6", "search_epochs=1", "finetune_epochs=0")
    line = cli("sweep", *args, "--methods", "joint", "--strengths", "0.1", "--no-plot").one_line_error(code=3)
    (folder,) = out.iterdir()
    assert f"bitgate sweep --resume {folder} --set lr=" in line
    assert "finetune_epochs" in cli("sweep", "--resume", folder, "--set", "finetune_epochs=3").one_line_error()
    result = cli("sweep", "--resume", folder, "--set", "lr=1e-3", "--no-plot")
    assert result.code == 0, result.err
    assert json.loads((folder / "sweep.json").read_text())["base"]["lr"] == 1e-3
    assert len(list(folder.glob("00-*/metrics.json"))) == 1


def test_piped_progress_lines_in_process(cli, tmp_path):
    out = tmp_path / "runs"
    result = cli("search", *tiny_args(out, "progress=true", "name=r"))
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].endswith(f"run folder: {out / 'r'}")
    epochs = [line for line in lines if " 1/1: " in line or " 1/2: " in line or " 2/2: " in line]
    assert [line.split()[2] for line in epochs] == ["warmup", "search", "search", "finetune"]
    assert all("loss" in line and "val acc" in line and "elapsed" in line and "ETA" in line for line in epochs)
    assert all("cost" in line for line in epochs if " search " in line)


def test_ctrl_c_in_a_sweep_says_how_to_resume_the_sweep(cli, tmp_path, monkeypatch):
    from search import rundir

    save = rundir.Checkpoints.save

    def interrupted(self, phase, next_epoch, objects, extra=None):
        save(self, phase, next_epoch, objects, extra)
        if phase == "search":
            raise KeyboardInterrupt

    monkeypatch.setattr(rundir.Checkpoints, "save", interrupted)
    out = tmp_path / "runs"
    result = cli("sweep", *tiny_args(out), "--methods", "joint", "--strengths", "0.1", "--no-plot")
    (folder,) = out.iterdir()
    assert result.code == 130
    assert result.err.strip() == f"bitgate sweep: interrupted; resume with bitgate sweep --resume {folder}"
    monkeypatch.setattr(rundir.Checkpoints, "save", save)
    assert cli("sweep", "--resume", folder, "--no-plot").code == 0


def test_divergence_rules_by_hand(tmp_path):
    from torch import nn

    from search.context import best_losses, divergence
    from search.rundir import History

    layer = nn.Linear(2, 2)
    assert divergence({"loss": 2.3}, {"m": layer}) is None
    assert divergence({"loss": float("inf")}, {"m": layer}) == "loss inf"
    assert divergence({"task_loss": 2e4}, {}) == "task_loss 2e+04 > 10000"
    assert divergence({"loss": 50.0}, {}, {"loss": 0.4}).startswith("loss 50, over 100x its best 0.4")
    assert divergence({"loss": 50.0}, {}, {"loss": 0.6}) is None  # 83x
    assert divergence({"loss": 9.0}, {}, {"loss": 0.01}) is None  # below the floor of 10
    with torch.no_grad():
        layer.bias[0] = float("nan")
    assert divergence({"loss": 1.0}, {"m": layer}) == "non-finite weights in m.bias"
    history = History(tmp_path / "h.csv")
    for epoch, loss in enumerate((2.0, 0.5, float("nan"), 0.8)):
        history.log("search", epoch, {"loss": loss})
    history.log("warmup", 0, {"loss": 0.1})
    assert best_losses(History(tmp_path / "h.csv"), "search", before=3) == {"loss": 0.5}
    assert best_losses(history, "search", before=1) == {"loss": 2.0}
