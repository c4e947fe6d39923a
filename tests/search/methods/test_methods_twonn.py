"""TwoNN intrinsic dimension and seed 002's significance rule."""

from __future__ import annotations

import torch
from torch import nn

from search.methods.common import layer_outputs, round_up_bits
from search.methods.twonn import hybrid_bits, significant_layers, twonn_dimension


def test_twonn_recovers_a_linearly_embedded_5d_gaussian():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(1000, 5, generator=g) @ torch.randn(5, 50, generator=g)
    assert abs(twonn_dimension(points) - 5.0) < 0.5


def test_twonn_on_a_line_and_a_plane():
    g = torch.Generator().manual_seed(1)
    line = torch.rand(800, 1, generator=g) @ torch.randn(1, 20, generator=g)
    plane = torch.rand(800, 2, generator=g) @ torch.randn(2, 20, generator=g)
    assert abs(twonn_dimension(line) - 1.0) < 0.2
    assert abs(twonn_dimension(plane) - 2.0) < 0.3


def test_twonn_ignores_duplicate_points():
    g = torch.Generator().manual_seed(2)
    points = torch.randn(500, 3, generator=g)
    assert twonn_dimension(torch.cat([points, points[:50]])) == twonn_dimension(points)


def test_significance_reproduces_seed_002_table_4_5():
    """QuantNet, Cat vs Dog, TwoNN column; Delta = 20 gives conv2 binary, linear1 and linear2 2-bit."""
    ids = {"input": 25.61, "conv1": 33.19, "conv2": 49.48, "linear1": 23.76, "linear2": 0.98, "out": 1.5}
    names = ["conv1", "conv2", "linear1", "linear2", "out"]
    sig = significant_layers(ids, names, 20.0)
    assert sig == {"conv1": False, "conv2": False, "linear1": True, "linear2": True, "out": False}
    bits = hybrid_bits(names, sig, tuple(range(1, 9)))
    assert bits == {"conv1": 8, "conv2": 1, "linear1": 2, "linear2": 2, "out": 8}
    # a device that stores only 4 and 8 bits gets the next width up
    assert hybrid_bits(names, sig, (4, 8)) == {"conv1": 8, "conv2": 4, "linear1": 4, "linear2": 4, "out": 8}
    assert round_up_bits(3, (2, 4, 8)) == 4 and round_up_bits(9, (2, 4, 8)) == 8


def test_layer_outputs_are_taken_after_batchnorm_and_relu():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()
    x = torch.randn(16, 1, 8, 8)
    outs = layer_outputs(model, ["0", "4"], x)
    assert torch.allclose(outs["0"], model[:3](x))
    assert torch.allclose(outs["4"], model(x))


def test_twonn_of_a_dead_layer_is_zero():
    assert twonn_dimension(torch.zeros(50, 8)) == 0.0
