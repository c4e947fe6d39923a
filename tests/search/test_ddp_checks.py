"""DDP's edges without GPUs: more ranks than GPUs refused in one line, the unused-parameter traversal only
where a model needs it, SyncBatchNorm swapped in for the warm-up and back out, search controls not broadcast."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bitgate.cli import main
from search import ddp, sync_bn
from search.config import ConfigError
from supernet import to_supernet
from zoo.models import create_model


def _fake_gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_more_ranks_than_gpus_is_refused_in_one_line(monkeypatch, capsys):
    _fake_gpus(monkeypatch, 2)
    with pytest.raises(ConfigError, match=r"--ddp 4: this machine has 2 CUDA device\(s\)"):
        ddp.check_ranks(4, "auto")
    ddp.check_ranks(2, "cuda")
    ddp.check_ranks(8, "cpu")  # CPU processes (gloo): any number
    launched = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: launched.append(a))
    assert main(["search", "--ddp", "3", "--set", "dataset=synthetic", "--set", "device=cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "has 2 CUDA device(s)" in err and len(err.splitlines()) == 1
    assert not launched  # refused before torchrun started any process


def test_under_torchrun_a_rank_without_its_gpu_is_refused(monkeypatch):
    _fake_gpus(monkeypatch, 1)
    monkeypatch.setattr(ddp.dist, "is_initialized", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="1 CUDA device"):
        ddp.setup("auto")


def test_unused_parameter_traversal_only_where_a_parameter_is_unused():
    torch.manual_seed(0)
    model = create_model("digits_cnn", 4, (1, 8, 8))
    x = torch.randn(8, 1, 8, 8)
    assert not ddp.needs_unused_parameters(model)
    assert not ddp.needs_unused_parameters(to_supernet(model, x))  # hard or soft, every option reaches the loss
    assert ddp.needs_unused_parameters(to_supernet(model, x, quantize_activations=False))  # clips never used


def test_search_controls_are_the_buffers_left_out_of_the_broadcast():
    net = to_supernet(create_model("digits_cnn", 4, (1, 8, 8)), torch.randn(8, 1, 8, 8))
    names = {n.rpartition(".")[2] for n, _ in net.named_buffers()}
    assert {"allowed", "reserved", "signed", "tau", "noise"} <= names & set(ddp.CONTROL_BUFFERS)
    assert not {"running_mean", "running_var", "num_batches_tracked"} & set(ddp.CONTROL_BUFFERS)


def test_warmup_batchnorms_become_sync_batchnorms_sharing_their_tensors(monkeypatch):
    model = create_model("resnet8", 10, (3, 32, 32))
    before = {k: v for k, v in model.state_dict().items()}
    originals = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    monkeypatch.setattr(ddp, "active", lambda: True)
    with sync_bn.synced_batchnorms(model, torch.device("cuda")) as swapped:
        syncs = [m for m in model.modules() if isinstance(m, nn.SyncBatchNorm)]
        assert swapped == len(originals) == len(syncs) > 0
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        inside = model.state_dict()
        same = all(inside[k].data_ptr() == before[k].data_ptr() for k in before)  # the same storage
        assert list(inside) == list(before) and same
    assert [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)] == originals
    with sync_bn.synced_batchnorms(model, torch.device("cpu")) as swapped:  # gloo on the CPU: nothing to sync
        assert swapped == 0
