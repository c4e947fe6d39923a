"""Searched activation bits: every latency model prices the supernet's one-hot expectation exactly
as the discrete architecture it stands for, with per-layer activation bits mixed across layers."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from cost_models import evaluate, get, names
from supernet import discretize, to_supernet
from targets import get_target, target_names

LATENCY = [n for n in names() if n.startswith("latency_")]


def family_target(cost_name: str) -> str:
    return next(t for t in target_names() if get(cost_name).applies_to(get_target(t)))


def small_net() -> nn.Module:
    """conv 3x3 -> ReLU -> depthwise 3x3 -> ReLU -> conv 1x1 (non-square maps) -> flatten -> linear."""
    return nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),
        nn.ReLU(),
        nn.Conv2d(8, 12, 1, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(12 * 5 * 2, 6),
    )


@pytest.mark.parametrize("cost_name", LATENCY)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_hot_expectation_equals_discrete_with_mixed_act_bits(cost_name, seed):
    target = get_target(family_target(cost_name))
    torch.manual_seed(seed)
    x = torch.randn(16, 2, 10, 4)
    net = to_supernet(small_net(), x, bits=target.weight_bits, act_bits=target.act_bits)
    rng = random.Random(seed)
    for gates in net.gates.values():
        nonzero = [b for b in gates.options if b]
        bits = [rng.choice(gates.options) for _ in range(gates.channels)]
        bits[0] = rng.choice(nonzero)  # keep one channel per group
        gates.set_choice(bits)
    acts = []
    for name in net.layer_names:
        act = net.layer(name).act
        if act.gates is not None:
            acts.append(rng.choice(act.options))
            act.gates.set_choice([acts[-1]])
    if len(target.act_bits) > 1:
        assert len(set(acts)) > 1 or seed, "the first seed must mix activation bits"
    net.set_sampling("hard")  # probabilities exactly one-hot in value
    arch = discretize(net)
    soft = evaluate(cost_name, net.layer_choices(), target).item()
    discrete = evaluate(cost_name, net.layer_choices(arch), target).item()
    assert soft == pytest.approx(discrete, rel=1e-12, abs=0)
    assert discrete > 0


def test_mpic_cycles_fall_with_activation_bits():
    """MPIC's LUT: the same 4-bit weights run at 2.3 / 3.5 / 4.0 MAC/cycle at a8 / a4 / a2."""
    target = get_target("mpic")
    net = to_supernet(small_net(), torch.randn(16, 2, 10, 4), bits=(0, 2, 4, 8), act_bits=(2, 4, 8))
    net.set_sampling("hard")
    for gates in net.gates.values():
        gates.set_choice([4] * gates.channels)
    cycles = {}
    for a in (2, 4, 8):
        for name in net.layer_names:
            net.layer(name).act.gates.set_choice([a])
        cycles[a] = evaluate("latency_mpic", net.layer_choices(discretize(net)), target).item()
    assert cycles[2] < cycles[4] < cycles[8]
