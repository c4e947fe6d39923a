"""Seed 000's layer importance on a two-layer model, against numbers computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from search.methods.importance import activation_sparsity, importance_scores, weight_entropy


def _tiny() -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
        model[2].weight.copy_(torch.tensor([[1.0, -1.0]]))
    return model


def test_importance_matches_hand_computation():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [2.0, 1.0]])
    # hidden = relu(W1 x) = [[1, 1], [0, 1], [0, 0], [1, 3]]: 3 zeros of 8; output h0 - h1 = [0, -1, 0, -2]: 2 of 4
    s = importance_scores(_tiny(), ["0", "2"], x, model_bits=8, eps=0.01)
    h1 = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))  # W1 on the 8-bit grid: three +127, one -127
    expected = {
        "0": {"N_p": 4 / 6, "N_e": math.log(math.e - 1 + h1 / 8), "N_v": 1.0 / 2.0, "S": 3 / 8},
        "2": {"N_p": 2 / 6, "N_e": math.log(math.e - 1 + 1.0 / 8), "N_v": 1.0, "S": 2 / 4},
    }  # variances (unbiased): W1 [1, -1, 1, 1] -> 1.0, W2 [1, -1] -> 2.0
    for name, want in expected.items():
        for key, value in want.items():
            assert s[name][key] == pytest.approx(value), (name, key)
        assert s[name]["importance"] == pytest.approx(sum(want.values()) / 4)


def test_entropy_is_bounded_by_the_bit_width():
    w = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    assert 0.0 < weight_entropy(w, 4) <= 4.0
    assert weight_entropy(w, 8) > weight_entropy(w, 4)
    assert weight_entropy(torch.ones(7), 8) == 0.0


def test_sparsity_counts_near_zero_activations():
    a = torch.tensor([0.0, 0.005, -0.2, 1.0])
    assert activation_sparsity(a, eps=0.01) == 0.5
    assert activation_sparsity(a, eps=0.0) == 0.25
