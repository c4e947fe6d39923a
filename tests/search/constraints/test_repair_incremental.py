"""The budget repair prices moves on the layers they touch: the same result as re-pricing the whole network
for every candidate, exact at the end, and no whole-network pricing per step (MobileNetV2)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

import cost_models
import search.constraints.pricer as pricer
from search.constraints.repair import grow, repair
from search.pricing import layer_choices
from supernet import Architecture, discretize, to_supernet
from targets import get_target
from zoo.models import create_model


def _cost(net, arch, cost, target) -> float:
    with torch.no_grad():
        return float(cost_models.evaluate(cost, layer_choices(net, arch), target))


def _groups(net) -> list[list[str]]:
    out: dict[int, list[str]] = {}
    for name in net.layer_names:
        out.setdefault(id(net.layer(name).gates), []).append(name)
    return list(out.values())


def _moves(gates, bits, direction, min_kept):
    alpha, allowed, out = gates.logits().detach(), gates.allowed, []
    for c, b in enumerate(bits):
        col = c if alpha.shape[1] > 1 else 0
        i = gates.options.index(b) if b in gates.options else 0
        j = i + direction
        while 0 <= j < len(gates.options) and not bool(allowed[j, col]):
            j += direction
        if 0 <= j < len(gates.options) and not (gates.options[j] == 0 and sum(x > 0 for x in bits) <= min_kept):
            out.append((float(alpha[j, col] - alpha[i, col]), c, gates.options[j]))
    return out


def _set(arch, layers, channels, bits):
    new = list(arch.weight_bits[layers[0]])
    for c in channels:
        new[c] = bits
    return replace(arch, weight_bits={**arch.weight_bits, **dict.fromkeys(layers, tuple(new))})


def reference_repair(net, arch, cost, target, budget, min_kept):
    """The greedy written out: every group's least-regretted lowering priced on the whole network, every step."""
    current = _cost(net, arch, cost, target)
    while current > budget:
        best = None
        for layers in _groups(net):
            gates, bits = net.layer(layers[0]).gates, arch.weight_bits[layers[0]]
            moves = _moves(gates, bits, -1, min_kept(len(bits)))
            if not moves:
                continue
            gap, c, lower = max(moves)
            trial = _set(arch, layers, [c] if gates.channels > 1 else range(len(bits)), lower)
            saving = current - _cost(net, trial, cost, target)
            score = -gap / saving if saving > 0 else math.inf
            if best is None or score < best[0]:
                best = (score, trial, saving)
        if best is None:
            raise ValueError("cannot be met")
        _, arch, saving = best
        current -= saving
    return arch


def _random_net(model: str, shape: tuple[int, ...], classes: int, bits: tuple[int, ...], seed: int):
    torch.manual_seed(seed)
    net = to_supernet(create_model(model, classes, shape), torch.randn(4, *shape), bits=bits)
    with torch.no_grad():
        for g in net.all_gates():
            g.alpha.add_(torch.randn_like(g.alpha))
    return net


@pytest.mark.parametrize(  # one random network each (the whole-network reference greedy is slow); size on two
    ("target_name", "cost", "seed"),
    [
        ("generic", "size", 0),
        ("generic", "size", 1),
        ("stm32h7", "memory", 1),
        ("gap8", "latency_gap8", 0),
        ("generic", "bitops", 1),
        ("stm32l4", "latency_cortexm", 0),
    ],
)
def test_incremental_repair_equals_whole_network_greedy(target_name, cost, seed):
    target = get_target(target_name)
    net = _random_net("resnet8", (3, 32, 32), 10, tuple(sorted({0, *target.weight_bits})), seed)
    arch = discretize(net, {})
    full = _cost(net, arch, cost, target)
    min_kept = lambda channels: max(1, channels // 8)  # noqa: E731
    for share in (0.3, 0.7):
        got = repair(net, arch, cost, target, share * full, min_kept)
        assert got.weight_bits == reference_repair(net, arch, cost, target, share * full, min_kept).weight_bits
        assert _cost(net, got, cost, target) <= share * full


def test_grow_fills_as_the_whole_network_greedy_and_never_exceeds(tiny_model):
    target = get_target("generic")
    net = _random_net("digits_cnn", (1, 8, 8), 4, (0, 2, 4, 8), 3)
    small = repair(net, discretize(net, {}), "size", target, 400.0)
    grown = grow(net, small, "size", target, 900.0)
    assert _cost(net, small, "size", target) < _cost(net, grown, "size", target) <= 900.0
    assert grown.meta["grown_to_budget"] == 900.0


def test_mobilenet_v2_repair_prices_the_whole_network_only_at_the_ends(monkeypatch):
    """2.36 MB -> 1 MB: over a thousand moves, each priced on its few layers; the result is priced once more."""
    torch.manual_seed(0)
    net = to_supernet(create_model("tv:mobilenet_v2", 10, (3, 32, 32)), torch.randn(4, 3, 32, 32), bits=(0, 2, 4, 8))
    arch = discretize(net, {})  # the init's argmax: every channel at 8 bits
    target = get_target("generic")
    calls = []
    real = pricer.layer_choices
    monkeypatch.setattr(pricer, "layer_choices", lambda *a, **k: calls.append(1) or real(*a, **k))
    small = repair(net, arch, "memory", target, 1e6, lambda c: max(1, -(-c // 8)))
    assert len(calls) <= 3  # the incremental pricer's records, the start and the final whole-network price
    need = _cost(net, small, "memory", target)
    assert 0.99e6 < need <= 1e6
    moved = sum(a != b for n in net.layer_names for a, b in zip(arch.weight_bits[n], small.weight_bits[n], strict=True))
    assert moved > 1000


def test_a_budget_below_the_smallest_network_is_refused():
    net = _random_net("digits_cnn", (1, 8, 8), 4, (0, 2, 4, 8), 0)
    with pytest.raises(ValueError, match="cannot be met"):
        repair(net, discretize(net, {}), "size", get_target("generic"), 1.0)


def test_architecture_type_is_kept():
    net = _random_net("digits_cnn", (1, 8, 8), 4, (0, 2, 4, 8), 0)
    arch = discretize(net, {"method": "joint"})
    out = repair(net, arch, "size", get_target("generic"), 1e9)
    assert isinstance(out, Architecture) and out.weight_bits == arch.weight_bits
    assert out.meta == {**arch.meta, "repaired_to_budget": 1e9}
