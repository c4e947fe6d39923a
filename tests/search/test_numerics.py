"""TF32 off unless set, deterministic algorithms on request (with the deterministic pooling backward that
replaces the CUDA kernel, checked against PyTorch's own on the CPU), torch.compile as a setting."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from search.config import ConfigError, SearchConfig
from search.numerics import _adaptive_avg_pool_backward, compiled, numerics, replace_nondeterministic


@pytest.mark.parametrize(("size", "out"), [((8, 8), (1, 1)), ((6, 10), (2, 5)), ((7, 5), (3, 2)), ((5, 5), (5, 5))])
def test_deterministic_pooling_backward_equals_pytorchs(size, out):
    x = torch.randn(2, 3, *size, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 3, *out, dtype=torch.float64)
    (expected,) = torch.autograd.grad(F.adaptive_avg_pool2d(x, out), x, grad)
    assert torch.allclose(_adaptive_avg_pool_backward(grad, x.detach()), expected, rtol=0, atol=1e-12)


def test_numerics_sets_tf32_and_determinism_for_the_run_only():
    before = (torch.backends.cudnn.allow_tf32, torch.are_deterministic_algorithms_enabled())
    with numerics(tf32=False, deterministic=True, device=torch.device("cpu")):
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    assert (torch.backends.cudnn.allow_tf32, torch.are_deterministic_algorithms_enabled()) == before
    with numerics(tf32=True, deterministic=False, device=torch.device("cpu")):
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    assert replace_nondeterministic(torch.device("cpu")) == []  # the CPU kernels are deterministic


def test_compile_is_a_checked_setting_applied_in_place(monkeypatch):
    assert SearchConfig(compile="reduce-overhead").compile == "reduce-overhead"
    with pytest.raises(ConfigError, match="compile must be one of"):
        SearchConfig(compile="fast")
    model = nn.Linear(2, 2)
    calls = []
    monkeypatch.setattr(nn.Linear, "compile", lambda self, mode=None: calls.append(mode), raising=False)
    assert compiled(model, "") is model and calls == []
    assert compiled(model, "default") is model and calls == [None]  # in place: names and checkpoints unchanged
    compiled(model, "max-autotune")
    assert calls == [None, "max-autotune"]


def test_optimizers_step_fused_on_gpus_and_as_before_on_the_cpu():
    from search.train import step_kind

    assert step_kind(torch.device("cpu")) == {}  # PyTorch's per-parameter loop: CPU results as they were
    assert step_kind(torch.device("cuda")) == {"fused": True}  # one kernel, no host read of the step counters
    assert step_kind(torch.device("cuda"), torch.optim.SGD) == {"fused": True}
