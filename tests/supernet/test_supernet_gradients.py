"""One training step's gradients reach every architecture parameter and every weight, in every sampling mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from supernet import to_supernet

FOLD = pytest.mark.parametrize("fold", [{"fold_bn": True}, {"fold_bn": False}], ids=["fold", "bn-after-gate"])


@FOLD
@pytest.mark.parametrize("mode", ["soft", "gumbel", "hard", "hard-gumbel"])
@pytest.mark.parametrize("name", ["resnet", "concat", "dscnn"])
def test_gradients_reach_alpha_and_weights(name: str, mode: str, fold: dict, tiny_model) -> None:
    model, x = tiny_model(name, batch=16)
    net = to_supernet(model, x, bits=(0, 2, 4, 8), act_bits=(2, 4, 8), **fold).train()
    net.set_sampling(mode)
    net.resample(torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(1))
    F.cross_entropy(net(x), y).backward()
    for key, gates in net.gates.items():  # every channel group (a channel whose ReLU is dead on
        assert gates.alpha.grad is not None, key  # this batch, or clipped by the next quantizer, gets none)
        assert gates.alpha.grad.abs().sum() > 0, key
    for name_ in net.layer_names:
        layer = net.layer(name_)
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0, name_
        assert layer.act.gates.alpha.grad.abs().sum() > 0, name_  # searched activation bits
        assert layer.act.clip.grad is not None and layer.act.clip.grad != 0, name_
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert {id(p) for p in arch}.isdisjoint(id(p) for p in weights)
    assert len(arch) == len(net.gates) + len(net.layer_names)
