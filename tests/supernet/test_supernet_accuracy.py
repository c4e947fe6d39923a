"""Conversion does not damage the network: every gate on 8 bits, before any training, the supernet
scores within 1 percentage point of the float network (DESIGN, "The supernet").

ResNet-8 is the case that matters: residual branches meet before their add, where an unsigned
quantizer would clamp the negative half away.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from supernet import to_supernet
from zoo.data import DataSplits, batches, load_dataset
from zoo.models import create_model

FOLD = pytest.mark.parametrize("fold", [{"fold_bn": True}, {"fold_bn": False}], ids=["fold", "bn-after-gate"])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits", seed=0)


@pytest.fixture(scope="module", params=["digits_cnn", "resnet8"])
def trained(request, digits: DataSplits) -> nn.Module:
    """The float network after 4 seeded Adam epochs on the digits (about a second)."""
    torch.manual_seed(0)
    model = create_model(request.param, digits.num_classes, digits.in_shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(4):
            model.train()
            for x, y in batches(digits.train, 64, shuffle=True, generator=g):
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


@FOLD
def test_w8_supernet_scores_like_the_float_network(trained: nn.Module, digits: DataSplits, fold: dict) -> None:
    x_test, y_test = digits.test.tensors()
    x_train, _ = digits.train.tensors()
    float_acc = accuracy(trained, x_test, y_test)
    assert float_acc > 0.9  # the comparison means something
    net = to_supernet(trained, x_train[:256], bits=(0, 2, 4, 8), act_bits=(8,), **fold).eval()
    for gates in net.gates.values():
        gates.set_choice([8] * gates.channels)
    net.set_sampling("hard")
    assert abs(accuracy(net, x_test, y_test) - float_acc) <= 0.01
    assert accuracy(trained, x_test, y_test) == float_acc  # the float model was not touched
