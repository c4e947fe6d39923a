"""The `device`/`amp` settings, data placement, and checkpoints that move between devices."""

from __future__ import annotations

import io
import json
import pickle
import types
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from bitgate.cli import main
from search.config import ConfigError, SearchConfig
from search.device import float_autocast, resolve_device
from search.loader import StreamedDataset, place
from search.model_file import load_model
from search.run import run
from search.rundir import Checkpoints
from zoo.data import RandomCropFlip, batches, load_dataset

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


def _run_dir(cfg: SearchConfig) -> Path:
    (folder,) = [p for p in Path(cfg.out_dir).iterdir() if p.is_dir()]
    return folder


def relabelled(obj, location: str) -> bytes:
    """torch.save's bytes with every storage labelled `location` (what a save on that device writes)."""

    class Pickler(pickle._Pickler):
        def save_pers(self, pid):
            if isinstance(pid, tuple) and pid and pid[0] == "storage":
                pid = (*pid[:3], location, *pid[4:])
            super().save_pers(pid)

    buf = io.BytesIO()
    torch.save(obj, buf, pickle_module=types.SimpleNamespace(Pickler=Pickler, __name__="pickle"))
    return buf.getvalue()


# ---------------------------------------------------------------------------------- settings


def test_cpu_and_auto_resolve_on_this_machine():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if CUDA else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected
    assert SearchConfig().device == "auto" and SearchConfig().amp == "off"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "CUDA", "tpu:0"])
def test_bad_device_name_is_a_config_error(name):
    with pytest.raises(ConfigError, match="device must be auto, cpu, mps, cuda or cuda:N"):
        SearchConfig(device=name)


def test_bad_amp_is_a_config_error():
    with pytest.raises(ConfigError, match="amp must be one of off, bf16"):
        SearchConfig(amp="fp16")


def test_missing_cuda_device_is_refused():
    with pytest.raises(ConfigError, match="'cuda:99' is not available"):
        resolve_device("cuda:99")


@pytest.mark.skipif(CUDA, reason="this machine has a GPU")
def test_cli_refuses_unavailable_device_before_writing(tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(["search", "--set", "dataset=synthetic", "--set", "device=cuda", "--set", f"out_dir={out}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no CUDA GPU here" in err
    assert not out.exists()


def test_bf16_autocast_is_for_the_float_forward_only():
    lin = nn.Linear(4, 2)
    x = torch.randn(3, 4)
    with float_autocast("bf16", torch.device("cpu")):
        assert lin(x).dtype == torch.bfloat16
    with float_autocast("off", torch.device("cpu")):
        assert lin(x).dtype == torch.float32


def test_explicit_cpu_and_auto_give_the_same_architecture(tiny_cfg):
    cfg = replace(tiny_cfg, warmup_epochs=1, search_epochs=2, finetune_epochs=0)
    a = run(replace(cfg, device="cpu", name="cpu"))
    b = run(replace(cfg, device="auto", name="auto"))
    if resolve_device("auto").type == "cpu":
        root = Path(cfg.out_dir)
        assert (root / "cpu" / "arch.json").read_text() == (root / "auto" / "arch.json").read_text()
        assert a["test_acc"] == b["test_acc"]


def test_bf16_warmup_runs_and_keeps_float32_weights(tiny_cfg):
    cfg = replace(tiny_cfg, amp="bf16", warmup_epochs=1, search_epochs=1, finetune_epochs=0)
    metrics = run(cfg)
    state = torch.load(_run_dir(cfg) / "checkpoints" / "warmup.pt", weights_only=True)["state"]["model"]
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    assert 0.0 <= metrics["test_acc"] <= 1.0


# ---------------------------------------------------------------------------------- data


@pytest.mark.parametrize("workers", [0, 1])
def test_streamed_batches_equal_held_batches(workers):
    splits = load_dataset("synthetic", seed=0)
    streamed = StreamedDataset(splits.train, torch.device("cpu"), workers=workers)
    aug = RandomCropFlip(padding=1)
    held = list(batches(splits.train, 32, shuffle=True, generator=torch.Generator().manual_seed(3), augment=aug))
    got = list(batches(streamed, 32, shuffle=True, generator=torch.Generator().manual_seed(3), augment=aug))
    assert len(held) == len(got) == -(-len(splits.train) // 32)
    for (x1, y1), (x2, y2) in zip(held, got, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.equal(streamed.batch(torch.tensor([3, 1]))[0], splits.train.batch(torch.tensor([3, 1]))[0])


def test_place_keeps_cpu_data_and_streams_on_request():
    splits = load_dataset("synthetic", seed=0)
    assert place(splits, torch.device("cpu")) is splits
    streamed = place(splits, torch.device("cpu"), stream=True)
    assert isinstance(streamed.train, StreamedDataset) and len(streamed.test) == len(splits.test)


@needs_cuda
def test_data_held_on_cuda_gives_the_cpu_batches():
    splits = load_dataset("synthetic", seed=0)
    gpu = place(splits, torch.device("cuda"))
    assert gpu.train.device.type == "cuda"
    aug = RandomCropFlip(padding=1)
    for (x1, y1), (x2, y2) in zip(
        batches(splits.train, 32, shuffle=True, generator=torch.Generator().manual_seed(1), augment=aug),
        batches(gpu.train, 32, shuffle=True, generator=torch.Generator().manual_seed(1), augment=aug),
        strict=True,
    ):
        assert x2.is_cuda and torch.equal(x1, x2.cpu()) and torch.equal(y1, y2.cpu())


@needs_cuda
def test_tiny_run_on_cuda_writes_a_cpu_loadable_run(tiny_cfg):
    cfg = replace(tiny_cfg, device="cuda", warmup_epochs=1, search_epochs=1, finetune_epochs=1)
    run(cfg)
    folder = _run_dir(cfg)
    assert json.loads((folder / "arch.json").read_text())
    saved = torch.load(folder / "model.pt", weights_only=True)  # model.pt is data (search.model_file)
    assert not any(t.is_cuda for t in saved["state"].values())
    assert not any(p.is_cuda for p in load_model(folder).parameters())


# ---------------------------------------------------------------------------------- checkpoints


def test_checkpoint_saved_on_another_device_restores_on_cpu(tmp_path):
    torch.manual_seed(0)
    saved = nn.Linear(3, 2)
    opt = torch.optim.Adam(saved.parameters())
    saved(torch.randn(4, 3)).sum().backward()
    opt.step()
    blob = {"epoch": 5, "state": {"model": saved.state_dict(), "opt": opt.state_dict()}, "extra": {"strength": 0.5}}
    ckpts = Checkpoints(tmp_path / "checkpoints")
    ckpts.path("search").parent.mkdir()
    ckpts.path("search").write_bytes(relabelled(blob, "cuda:0"))
    if not CUDA:  # the file really names a CUDA device: a plain load refuses it here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(ckpts.path("search"), weights_only=True)
    model = nn.Linear(3, 2)
    new_opt = torch.optim.Adam(model.parameters())
    epoch, extra = ckpts.restore("search", {"model": model, "opt": new_opt})
    assert (epoch, extra) == (5, {"strength": 0.5})
    assert torch.equal(model.weight, saved.weight) and model.weight.device.type == "cpu"
    assert torch.equal(new_opt.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


@pytest.mark.skipif(CUDA, reason="this machine has a GPU")
def test_gpu_run_resumes_on_cpu_with_set_device(tiny_cfg, capsys):
    cfg = replace(tiny_cfg, device="cpu", warmup_epochs=1, search_epochs=1, finetune_epochs=0)
    run(cfg)
    folder = _run_dir(cfg)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "device": "cuda"}))  # as searched on a GPU
    for ckpt in (folder / "checkpoints").iterdir():
        ckpt.write_bytes(relabelled(torch.load(ckpt, weights_only=True), "cuda:0"))
    (folder / "metrics.json").unlink()  # killed before its end (resuming a finished run changes nothing)
    assert main(["search", "--resume", str(folder)]) == 2
    assert "no CUDA GPU here" in capsys.readouterr().err
    assert main(["search", "--resume", str(folder), "--set", "device=cpu"]) == 0
