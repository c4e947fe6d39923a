"""At one-hot probabilities every cost model equals an independent integer computation."""

from __future__ import annotations

import math
import random

import pytest

from cost_models import applicable, evaluate, evaluate_all, names
from supernet.spec import LayerSpec
from targets import get_target, target_names

CHAIN = [  # conv -> depthwise (shares gates) -> 1x1 conv -> flatten -> linear (output layer)
    LayerSpec("c1", "conv", 3, 8, (3, 3), in_spatial=(8, 8), out_spatial=(8, 8)),
    LayerSpec("dw", "conv", 8, 8, (3, 3), groups=8, in_spatial=(8, 8), out_spatial=(4, 4)),
    LayerSpec("pw", "conv", 8, 12, (1, 1), in_spatial=(4, 4), out_spatial=(2, 2)),
    LayerSpec("fc", "linear", 12, 10, in_unit=4),
]


def random_layers(target, seed):
    """Plain-int description of a random discrete architecture of CHAIN on `target`."""
    rng = random.Random(seed)
    nonzero = [b for b in target.weight_bits if b > 0]
    c1 = [rng.choice(target.weight_bits) for _ in range(8)]
    dw = [rng.choice(nonzero) if b else 0 for b in c1]
    pw = [rng.choice(target.weight_bits) for _ in range(12)]
    fc = [rng.choice(nonzero) for _ in range(10)]
    acts = [rng.choice(target.act_bits) for _ in range(4)] + [8]
    kept = lambda bits: [int(b > 0) for b in bits]  # noqa: E731
    ins = [[1, 1, 1], kept(c1), kept(c1), kept(pw)]
    return [
        dict(spec=s, bits=b, in_kept=k, act=acts[i], out_act=acts[i + 1])
        for i, (s, b, k) in enumerate(zip(CHAIN, [c1, dw, pw, fc], ins, strict=True))
    ]


def wpc(layer):
    s = layer["spec"]
    return s.kernel_numel if s.depthwise else sum(layer["in_kept"]) * s.in_unit // s.groups * s.kernel_numel


def macs_per_channel(layer):
    return layer["spec"].out_positions * wpc(layer)


def ref_size(layers, t):
    return sum(
        math.ceil(sum(1 for x in L["bits"] if x == b) * wpc(L) * t.storage_bits[b] / 8)
        for L in layers
        for b in set(L["bits"]) - {0}
    )


def ref_memory(layers, t):
    per_channel = {"reference": 4 + 4 + 1, "cmsis-nn": 4 + 4 + 4}[t.flavour]  # bias, multiplier, shift (int8 / int32)
    return ref_size(layers, t) + per_channel * sum(1 for L in layers for b in L["bits"] if b)


def ref_ram(layers, t):
    def buf(channels, pixels, bits):
        return math.ceil(channels * pixels * bits / 8)

    return max(
        buf(sum(L["in_kept"]) * L["spec"].in_unit, math.prod(L["spec"].in_spatial), L["act"])
        + buf(sum(1 for b in L["bits"] if b), math.prod(L["spec"].out_spatial), L["out_act"])
        for L in layers
    )


def ref_gap8(layers, t):
    total = 0
    for L in layers:
        s, cout = L["spec"], sum(1 for b in L["bits"] if b)
        cin = sum(L["in_kept"]) * s.in_unit
        if s.kind == "linear":
            total += math.ceil(cin / 2) * math.ceil(cout / 4)
        elif s.depthwise:
            total += 4 * math.ceil(cout / 4) * s.out_positions * s.kernel_numel
        elif cout:
            (ox, oy), (kx, ky) = s.out_spatial, s.kernel_size  # PLiNIO: OX = height, OY = width
            inner = 2 * kx * ky * cin + math.ceil(cout / 4) * (15 + 14 * math.ceil(kx * ky * cin / 4))
            total += math.ceil(ox / 2) * math.ceil(oy / 8) * inner
    return total


def ref_ne16(layers, t):
    """PLiNIO's Ne16PerfModel as a loop over channel tiles (body + remainder), per precision group."""

    def pass_cycles(ho, wo, ko, ki, wbits, mode):
        spatial = math.ceil(ho / 3) * math.ceil(wo / 3)
        load = 19 if mode == "1x1" else 31
        n_in = math.ceil(ki / 16)
        tile = 16 if mode == "dw" else 32

        def iteration(k):
            matvec = 6 + k if mode == "1x1" else 6 + k * wbits
            if mode == "dw":
                return load + (6 + k) + matvec + 2 + (9 + k) + 13
            return n_in * (load + 6 + matvec + 2) + (9 + k) + 13

        body, rem = divmod(ko, tile)
        return spatial * (body * iteration(tile) + (iteration(rem) if rem else 0))

    total = 0
    for L in layers:
        s = L["spec"]
        ho, wo = s.out_spatial if s.out_spatial else (1, 1)
        ki = sum(L["in_kept"]) * s.in_unit
        for b in set(L["bits"]) - {0}:
            ko = sum(1 for x in L["bits"] if x == b)
            if s.depthwise:
                total += pass_cycles(ho, wo, ko, ki, b, "dw")
            else:
                total += pass_cycles(ho, wo, ko, ki, b, "3x3" if s.kernel_size == (3, 3) else "1x1")
    return total


REFERENCES = {
    "size": ref_size,
    "size_sparse": ref_size,  # without non-zero counts every weight is non-zero: dense is smaller
    "size_bits": lambda ls, t: sum(wpc(L) * t.storage_bits[b] for L in ls for b in L["bits"] if b),
    "memory": ref_memory,
    "macs": lambda ls, t: sum(macs_per_channel(L) for L in ls for b in L["bits"] if b),
    "bitops": lambda ls, t: sum(macs_per_channel(L) * b * L["act"] for L in ls for b in L["bits"]),
    "peak_activation_ram": ref_ram,
    "latency_mpic": lambda ls, t: sum(
        macs_per_channel(L) / t.params["mac_per_cycle"][f"a{L['act']}"][f"w{b}"] for L in ls for b in L["bits"] if b
    ),
    "latency_gap8": ref_gap8,
    "latency_ne16": ref_ne16,
    "latency_cortexm": lambda ls, t: sum(
        sum(macs_per_channel(L) for b in L["bits"] if b) / t.params["macs_per_cycle"]
        + t.params["call_overhead_cycles"] * len(set(L["bits"]) - {0})
        for L in ls
    ),
}

PAIRS = [(t, c) for t in target_names() for c in applicable(get_target(t))]


def test_every_cost_model_has_a_reference():
    assert sorted(REFERENCES) == names()


@pytest.mark.parametrize("target_name,cost_name", PAIRS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_hot_equals_discrete(make_discrete, target_name, cost_name, seed):
    target = get_target(target_name)
    layers = random_layers(target, seed)
    no_pruning = tuple(b for b in target.weight_bits if b)  # the output layer keeps every channel
    choices = [
        make_discrete(
            L["spec"],
            no_pruning if L["spec"].name == "fc" else target.weight_bits,
            L["bits"],
            L["in_kept"],
            L["act"],
            L["out_act"],
        )
        for L in layers
    ]
    got = evaluate(cost_name, choices, target).item()
    expected = REFERENCES[cost_name](layers, target)
    if isinstance(expected, int):
        assert got == expected
    else:
        assert got == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize("target_name", target_names())
def test_evaluate_all_prices_every_applicable_model(make_discrete, target_name):
    target = get_target(target_name)
    layers = random_layers(target, 7)
    choices = [
        make_discrete(L["spec"], target.weight_bits, L["bits"], L["in_kept"], L["act"], L["out_act"]) for L in layers
    ]
    costs = evaluate_all(choices, target)
    assert sorted(costs) == applicable(target)
    assert set(target.costs) <= set(costs)
    for name, value in costs.items():
        assert isinstance(value, float)
        assert value == pytest.approx(REFERENCES[name](layers, target), rel=1e-12)
