"""Seed 000's average bit-width and seed 003's sum b * ||W||_0, against hand counts."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from search.metrics import average_bit_width, nonzero_weight_bits
from supernet.spec import LayerChoice, LayerSpec


def one_hot_choice(spec: LayerSpec, options: tuple[int, ...], bits: list[int], in_keep: list[int]) -> LayerChoice:
    probs = torch.zeros(len(options), len(bits))
    for c, b in enumerate(bits):
        probs[options.index(b), c] = 1.0
    one = torch.ones(1)
    return LayerChoice(spec, options, probs, torch.tensor(in_keep, dtype=torch.float32), (8,), one, (8,), one)


CONV = LayerSpec("a", "conv", 2, 4, (3, 3), in_spatial=(4, 4), out_spatial=(4, 4))  # 18 weights per channel
FC = LayerSpec("b", "linear", 4, 3)  # 4 weights per channel
CHOICES = [
    one_hot_choice(CONV, (0, 2, 8), [8, 8, 2, 0], [1, 1]),
    one_hot_choice(FC, (4,), [4, 4, 4], [1, 1, 1, 0]),
]  # (its input channel 3 is pruned)
ORIGINAL = 4 * 18 + 3 * 4  # 84 weights


def test_average_bit_width_hand_count() -> None:
    # b = sum_l b(l) S(l) N_p(l): layer a: (8*18 + 8*18 + 2*18) / 84, layer b: 4 * (3 * 3) / 84
    assert average_bit_width(CHOICES) == pytest.approx((8 * 36 + 2 * 18 + 4 * 9) / ORIGINAL)
    # masked single weights: channel 0 of layer a keeps 9 of its 18 weights
    present = {"a": torch.tensor([9.0, 18, 18, 0]), "b": torch.tensor([3.0, 3, 3])}
    assert average_bit_width(CHOICES, present) == pytest.approx((8 * 9 + 8 * 18 + 2 * 18 + 36) / ORIGINAL)


def test_uniform_unpruned_network_averages_its_bit_width() -> None:
    full = [one_hot_choice(CONV, (4,), [4] * 4, [1, 1]), one_hot_choice(FC, (4,), [4] * 3, [1] * 4)]
    assert average_bit_width(full) == pytest.approx(4.0)


def test_nonzero_weight_bits_hand_count() -> None:
    assert nonzero_weight_bits(CHOICES) == 8 * 36 + 2 * 18 + 4 * 9
    sparse = [replace(CHOICES[0], nonzeros=torch.tensor([5.0, 0, 7, 0])), CHOICES[1]]
    assert nonzero_weight_bits(sparse) == 8 * 5 + 2 * 7 + 4 * 9
