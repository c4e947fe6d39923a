"""size_sparse: per precision group min(dense, bitmask + packed non-zeros), counted by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from cost_models import evaluate
from supernet.spec import LayerSpec
from targets import get_target

CONV = LayerSpec("c", "conv", 4, 6, (3, 3), in_spatial=(8, 8), out_spatial=(8, 8))  # wpc = 36


def test_hand_count_with_nonzeros(make_discrete) -> None:
    t = get_target("generic")
    # channels: 8, 8, 2, 2, 0 (pruned), 8 bits; input channel 3 pruned -> wpc = 3 * 9 = 27
    ch = make_discrete(CONV, (0, 2, 8), [8, 8, 2, 2, 0, 8], [1, 1, 1, 0])
    ch = replace(ch, nonzeros=torch.tensor([3.0, 5.0, 27.0, 20.0, 0.0, 1.0]))
    # 8-bit group: 3 channels x 27 = 81 weights, 9 non-zeros: dense 81 B; bitmask ceil(81/8)=11 + 9 = 20 B
    # 2-bit group: 2 channels x 27 = 54 weights, 47 non-zeros: dense ceil(108/8)=14 B;
    #              bitmask 7 + ceil(94/8)=12 -> 19 B, so it stays dense
    assert evaluate("size_sparse", [ch], t).item() == 20 + 14
    assert evaluate("size", [ch], t).item() == 81 + 14


def test_without_nonzeros_it_is_size(make_discrete) -> None:
    t = get_target("generic")
    ch = make_discrete(CONV, (0, 1, 4), [4, 1, 1, 0, 4, 4])
    assert evaluate("size_sparse", [ch], t).item() == evaluate("size", [ch], t).item() == 3 * 36 * 4 // 8 + 9


def test_soft_probabilities_have_gradients(make_soft) -> None:
    t = get_target("generic")
    alpha = torch.zeros(3, 6, requires_grad=True)
    ch = replace(make_soft(CONV, (0, 2, 8), alpha), nonzeros=torch.full((6,), 4.0))
    cost = evaluate("size_sparse", [ch], t)
    cost.backward()
    assert cost.item() > 0
    assert float(alpha.grad.abs().sum()) > 0


def test_refuses_an_option_the_target_cannot_store(make_discrete) -> None:
    ch = make_discrete(CONV, (0, 2, 8), [2] * 6)
    with pytest.raises(ValueError, match="2-bit weights but target 'stm32l4'"):
        evaluate("size_sparse", [ch], get_target("stm32l4"))
