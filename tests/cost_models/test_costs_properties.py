"""Properties every (target, cost model) pair must have: monotone, differentiable, optimisable."""

from __future__ import annotations

import pytest
import torch

from cost_models import applicable, evaluate
from supernet.spec import LayerSpec
from targets import get_target, target_names

PAIRS = [(t, c) for t in target_names() for c in applicable(get_target(t))]
CONV = LayerSpec("conv", "conv", 4, 8, (3, 3), in_spatial=(8, 8), out_spatial=(8, 8))
FC = LayerSpec("fc", "linear", 8, 10, in_unit=4)

# How a cost moves when every channel gets more weight bits: +1 grows strictly, 0 stays,
# -1 may shrink (GAP8: sub-byte weights can only add unpacking cycles; Cortex-M: the s4 kernels unpack
# nibbles, measured slower than s8 on every core).
BITS_DIRECTION = {
    "size": 1,
    "size_bits": 1,
    "size_sparse": 1,
    "memory": 1,
    "bitops": 1,
    "latency_mpic": 1,
    "macs": 0,
    "peak_activation_ram": 0,
    "latency_cortexm": -1,
    "latency_gap8": -1,
    "latency_ne16": 1,
}


def cost(name, choices, target):
    return evaluate(name, choices, target).item()


@pytest.mark.parametrize("target_name,cost_name", PAIRS)
def test_monotone_in_bits(make_discrete, target_name, cost_name):
    target = get_target(target_name)
    nonzero = [b for b in target.weight_bits if b]
    values = [cost(cost_name, [make_discrete(CONV, target.weight_bits, [b] * 8)], target) for b in nonzero]
    for low, high in zip(values[:-1], values[1:], strict=True):
        direction = BITS_DIRECTION[cost_name]
        if direction == 1:
            assert high > low
        elif direction == 0:
            assert high == low
        else:
            assert high <= low


@pytest.mark.parametrize("target_name,cost_name", PAIRS)
def test_monotone_in_kept_channels(make_discrete, target_name, cost_name):
    target = get_target(target_name)
    if not target.prunable:
        pytest.skip("target cannot prune")
    top = max(target.weight_bits)
    previous = None
    for n_pruned in range(9):  # prune output channels one by one
        bits = [0] * n_pruned + [top] * (8 - n_pruned)
        value = cost(cost_name, [make_discrete(CONV, target.weight_bits, bits)], target)
        assert previous is None or value <= previous
        previous = value
    full = cost(cost_name, [make_discrete(FC, (top,), [top] * 10)], target)
    pruned_in = cost(cost_name, [make_discrete(FC, (top,), [top] * 10, in_kept=[1, 0] * 4)], target)
    assert pruned_in <= full
    if cost_name in ("size", "macs", "bitops", "size_bits"):
        assert pruned_in == full / 2


@pytest.mark.parametrize("target_name", target_names())
def test_all_channels_pruned_cost_no_weight_bytes(make_discrete, target_name):
    target = get_target(target_name)
    if not target.prunable:
        pytest.skip("target cannot prune")
    gone = make_discrete(CONV, target.weight_bits, [0] * 8)
    for name in ("size", "memory", "size_bits", "macs", "bitops"):
        assert cost(name, [gone], target) == 0
    for name in set(applicable(target)) & {"latency_mpic", "latency_gap8", "latency_cortexm"}:
        assert cost(name, [gone], target) == 0


@pytest.mark.parametrize("target_name,cost_name", PAIRS)
def test_gradients_finite_and_nonzero(make_soft, target_name, cost_name):
    target = get_target(target_name)
    torch.manual_seed(0)
    alpha = torch.randn(len(target.weight_bits), 8, requires_grad=True)
    in_keep = torch.rand(4, requires_grad=True)
    act_logits = torch.randn(len(target.act_bits), requires_grad=True)
    choice = make_soft(CONV, target.weight_bits, alpha, in_keep, act_logits, target.act_bits)
    value = evaluate(cost_name, [choice], target)
    value.backward()
    grads = {"alpha": alpha.grad, "in_keep": in_keep.grad, "act": act_logits.grad}
    for key, grad in grads.items():
        assert grad is None or torch.isfinite(grad).all(), key
    if target.prunable or cost_name not in ("macs", "peak_activation_ram", "latency_cortexm", "latency_gap8"):
        assert alpha.grad.abs().sum() > 0  # without a 0 option these only see keep == 1
    assert in_keep.grad.abs().sum() > 0
    if cost_name in ("bitops", "latency_mpic", "peak_activation_ram") and len(target.act_bits) > 1:
        assert act_logits.grad.abs().sum() > 0


@pytest.mark.parametrize("target_name,cost_name", PAIRS)
def test_adam_on_cost_alone_reaches_cheapest_option(make_soft, target_name, cost_name):
    target = get_target(target_name)
    if not target.prunable:
        pytest.skip("target cannot prune")
    options = target.weight_bits
    alpha = torch.tensor([[b / max(options)] * 8 for b in options], requires_grad=True)  # reference init
    opt = torch.optim.Adam([alpha], lr=0.2)
    start = None
    for _ in range(25):
        opt.zero_grad()
        value = evaluate(cost_name, [make_soft(CONV, options, alpha)], target)
        start = value.item() if start is None else start
        value.backward()
        opt.step()
    assert value.item() < start
    assert (alpha.argmax(0) == options.index(0)).all()


@pytest.mark.parametrize("target_name", target_names())
def test_adam_on_size_without_pruning_picks_fewest_bits(make_soft, target_name):
    target = get_target(target_name)
    options = tuple(b for b in target.weight_bits if b)
    alpha = torch.tensor([[b / max(options)] * 10 for b in options], requires_grad=True)
    opt = torch.optim.Adam([alpha], lr=0.2)
    for _ in range(25):
        opt.zero_grad()
        evaluate("size", [make_soft(FC, options, alpha)], target).backward()
        opt.step()
    assert (alpha.argmax(0) == 0).all()
