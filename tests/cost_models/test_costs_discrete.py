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


# Loop counts of the Cortex-M latency tables' symbols, on plain ints (cost_models/cortexm_features.py
# says what each one counts in CMSIS-NN's loops).
SYMBOL_COUNTS = {
    "P": lambda v: v["P"],
    "P2": lambda v: v["P"] // 2,
    "Po": lambda v: v["P"] % 2,
    "P4": lambda v: v["P"] // 4,
    "Pr4": lambda v: v["P"] % 4,
    "Ho": lambda v: v["Ho"],
    "Q2": lambda v: v["Ho"] * (v["Wo"] // 2),
    "Qo": lambda v: v["Ho"] * (v["Wo"] % 2),
    "Q4": lambda v: v["Ho"] * (v["Wo"] // 4),
    "Qr4": lambda v: v["Ho"] * (v["Wo"] % 4),
    "Pin": lambda v: v["Pin"],
    "V": lambda v: v["V"],
    "R": lambda v: v["R"],
    "T": lambda v: v["T"],
    "Ppad": lambda v: v["Ppad"],
    "W": lambda v: 1,
    "X": lambda v: 1,
    "E": lambda v: v["E"],
    "E4": lambda v: v["E"] // 4,
    "Er4": lambda v: v["E"] % 4,
    "Ec16": lambda v: -(-v["E"] // 16),
    "n": lambda v: v["n"],
    "n2": lambda v: v["n"] // 2,
    "no": lambda v: v["n"] % 2,
    "n4": lambda v: v["n"] // 4,
    "nr4": lambda v: v["n"] % 4,
    "nc4": lambda v: -(-v["n"] // 4),
    "nc16": lambda v: -(-v["n"] // 16),
    "c": lambda v: v["c"],
    "co": lambda v: v["c"] % 2,
    "Ko": lambda v: v["c"] * v["T"] % 2,
    "c4": lambda v: v["c"] // 4,
    "cr4": lambda v: v["c"] % 4,
    "cc16": lambda v: -(-v["c"] // 16),
    "K": lambda v: v["c"] * v["T"],
    "K4": lambda v: v["c"] * v["T"] // 4,
    "Kr4": lambda v: v["c"] * v["T"] % 4,
    "K16": lambda v: v["c"] * v["T"] // 16,
    "K16r": lambda v: v["c"] * v["T"] % 16 // 4,
    "Kc16": lambda v: -(-v["c"] * v["T"] // 16),
}


def valid_taps(ih, iw, oh, ow, k, stride, pad):
    """(taps inside the input summed over output pixels, valid kernel rows summed likewise), by brute force."""
    taps = rows = 0
    for oy in range(oh):
        for ox in range(ow):
            ys = [oy * stride - pad + t for t in range(k) if 0 <= oy * stride - pad + t < ih]
            xs = [ox * stride - pad + t for t in range(k) if 0 <= ox * stride - pad + t < iw]
            taps, rows = taps + len(ys) * len(xs), rows + len(ys)
    return taps, rows


def call(table, kind, v, present=1):
    """Instructions of one call: coefficient x the product of its symbols' counts (per-call ones only if present)."""
    total = 0.0
    for feature, coefficient in table.kinds[kind].items():
        syms = [] if feature == "1" else feature.split("*")
        count = math.prod(SYMBOL_COUNTS[s](v) for s in syms)
        total += coefficient * count * (present if not set(syms) & {"n", "n2", "no", "n4", "nr4", "nc4", "nc16"} else 1)
    return total


def ref_cortexm(layers, t):
    """CHAIN on a Cortex-M table by hand: c1 3x3 / pad 1 (arm_convolve_*), dw 3x3 / stride 2 / pad 1 (wrapper:
    3x3 kernel on DSP cores, _opt on Helium; s4 generic, an odd s4 group padded explicitly to 9x9), pw 1x1 / stride
    2 (arm_convolve_1x1_*), fc a Linear (kinds fc_s8 / fc_s4); a group that is not the layer's only one copies
    its output (scatter) and, depthwise, gathers its input; no glue and no bg_infer without a plan."""
    from cost_models.cortexm_table import load_table

    table = load_table(t.params["latency_table"])
    helium = table.path == "mve"
    geometry = {
        "c1": (8, 8, 8, 8, 3, 1, 1),
        "dw": (8, 8, 4, 4, 3, 2, 1),
        "pw": (4, 4, 2, 2, 1, 2, 0),
        "fc": (1, 1, 1, 1, 1, 1, 0),
    }  # ih, iw, oh, ow, k, stride, pad
    total = 0.0
    for L in layers:
        name = L["spec"].name
        ih, iw, oh, ow, k, stride, pad = geometry[name]
        groups = {b: sum(1 for x in L["bits"] if x == b) for b in set(L["bits"]) - {0}}
        for b, n in groups.items():
            s = "s8" if b > 4 else "s4"
            c = n if name == "dw" else sum(L["in_kept"]) * L["spec"].in_unit
            taps, rows = valid_taps(ih, iw, oh, ow, k, stride, pad)
            v = {
                "n": n,
                "c": c,
                "P": oh * ow,
                "Ho": oh,
                "Wo": ow,
                "Pin": ih * iw,
                "T": k * k,
                "V": taps,
                "R": rows,
                "Ppad": 81 if name == "dw" else ih * iw,
                "E": 0,
            }
            kind = {
                "c1": f"conv_{s}",
                "pw": f"conv1x1s_{s}",
                "fc": f"fc_{s}",
                "dw": "dw_s4" if s == "s4" else ("dwopt_s8" if helium else "dw3x3_s8"),
            }[name]
            others = len(groups) > 1
            if name == "dw" and s == "s4" and n % 2:  # read from a 9x9 copy of its input, padding 0
                taps, rows = valid_taps(9, 9, oh, ow, k, stride, 0)
                total += call(table, kind, {**v, "Pin": 81, "V": taps, "R": rows}) + call(table, "pad", v)
                total += call(table, "scatter", v) if others else 0
                continue
            total += call(table, kind, v)
            if others and oh * ow > 1:
                total += call(table, "scatter", v) + (call(table, "gather", v) if name == "dw" else 0)
    return total * t.params["cycles_per_instruction"]


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
    "latency_cortexm": ref_cortexm,
}

PAIRS = [(t, c) for t in target_names() for c in applicable(get_target(t))]


def test_every_cost_model_has_a_reference():
    assert sorted(REFERENCES) == names()
    from cost_models.cortexm_features import SYMBOLS

    assert set(SYMBOL_COUNTS) == SYMBOLS  # a new loop symbol needs its hand count here


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
