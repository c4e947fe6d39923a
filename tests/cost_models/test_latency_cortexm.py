"""The measured Cortex-M latency model: its tables, its kernel choice, and how it prices soft choices."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cost_models import evaluate
from cost_models.cmsis_kernels import conv_function, depthwise_s8_path
from cost_models.cortexm_calls import conv_call, conv_kind
from cost_models.cortexm_features import SYMBOLS, Call, parse
from cost_models.cortexm_table import dumps, load_table
from cost_models.latency_cortexm import instructions, target_table
from supernet.spec import LayerSpec
from targets import get_target

CORTEX_M = ("stm32l4", "stm32h7", "stm32u5", "alif_e7")
CONV = LayerSpec("conv", "conv", 8, 16, (3, 3), in_spatial=(8, 8), out_spatial=(8, 8))
GOOD = """core = "m4"
path = "dsp"
[kinds.conv_s8]
"1" = 100
"P2*n*K4" = 10
"""


def write(tmp_path, text):
    path = tmp_path / "table.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", CORTEX_M)
def test_built_in_tables_load_and_cover_every_kernel_the_exporter_calls(name):
    table = target_table(get_target(name))
    assert table.core == get_target(name).params["core"]
    for kind in (
        "conv_s8",
        "conv_s4",
        "conv1x1_s8",
        "conv1x1_s4",
        "conv1x1s_s8",
        "conv1x1s_s4",
        "fc_s8",
        "fc_s4",
        "dw_s4",
        "dw_s8",
        "dwopt_s8",
        "scatter",
        "gather",
        "pad",
        "add",
        "avgpool",
        "maxpool",
        "requant",
        "network",
    ):
        assert table.coefficients(kind), kind
    assert ("dw3x3_s8" in table.kinds) == (table.path == "dsp")  # Helium's wrapper never runs the 3x3 kernel
    assert all(v > 0 for row in table.kinds.values() for v in row.values())  # NNLS: nothing gets cheaper by growing
    assert {"cmsis_nn", "compiler", "opt", "qemu", "grid", "date"} <= set(table.provenance)


@pytest.mark.parametrize(
    "edit,key",
    [
        (lambda s: s.replace('core = "m4"\n', ""), "core"),
        (lambda s: s.replace('"dsp"', '"neon"'), "path"),
        (lambda s: s.replace("conv_s8", "conv_s2"), "kinds.conv_s2"),
        (lambda s: s.replace("P2*n*K4", "P2*m*K4"), "kinds.conv_s8.P2*m*K4"),
        (lambda s: s.replace('"P2*n*K4" = 10', '"P2*n*K4" = "ten"'), "kinds.conv_s8.P2*n*K4"),
        (lambda s: s + "\nextra = 1\n", "extra"),
        (lambda s: s.replace("[kinds.conv_s8]", "[kinds.conv_s8"), "cannot read"),
    ],
)
def test_a_bad_table_is_one_line_naming_the_file_and_key(tmp_path, edit, key):
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(ValueError) as info:
        load_table(path)
    message = str(info.value)
    assert str(path) in message and key in message and "\n" not in message


def test_a_target_without_its_table_or_factor_or_with_another_cores_table_is_refused(tmp_path, make_discrete):
    base = get_target("stm32l4")
    choice = make_discrete(CONV, (0, 4, 8), [8] * 16)
    for params, match in (
        ({"cycles_per_instruction": 1.0}, "latency_table"),
        ({"latency_table": str(write(tmp_path, GOOD))}, "cycles_per_instruction"),
        ({"latency_table": str(tmp_path / "missing.toml"), "cycles_per_instruction": 1.0}, "missing.toml"),
        (
            {"latency_table": str(write(tmp_path, GOOD)), "cycles_per_instruction": 1.0, "core": "m7"},
            "measured on 'm4'",
        ),
        ({"latency_table": "cortex-m99", "cycles_per_instruction": 1.0}, "built-in table"),
    ):
        with pytest.raises(ValueError, match=match):
            evaluate("latency_cortexm", [choice], dataclasses.replace(base, params=params))


def test_the_table_round_trips_through_its_writer(tmp_path):
    table = target_table(get_target("stm32l4"))
    again = load_table(write(tmp_path, dumps(table, "comment")))
    assert again.kinds == table.kinds and again.core == table.core and again.fit == table.fit


def test_kernel_choice_follows_geometry_only():
    three, one, two = (3, 3), (1, 1), (2, 2)
    assert conv_function(8, False, three, one, one, one, 64) == "arm_convolve_s8"
    assert conv_function(4, False, one, one, (0, 0), one, 64) == "arm_convolve_1x1_s4_fast"
    assert conv_function(8, False, one, two, (0, 0), one, 16) == "arm_convolve_1x1_s8"
    assert conv_function(8, False, one, one, (0, 0), one, 1) == "arm_convolve_s8"  # Linear: one column
    assert conv_function(4, False, one, one, (0, 0), one, 1) == "arm_convolve_1x1_s4_fast"
    assert conv_function(8, True, three, one, one, one, 64) == "arm_depthwise_conv_wrapper_s8"
    assert conv_function(4, True, three, one, one, one, 64) == "arm_depthwise_conv_s4"
    assert depthwise_s8_path(three, one, one, helium=False) == "3x3"
    assert depthwise_s8_path(three, two, one, helium=False) == "opt"
    assert depthwise_s8_path(three, one, one, helium=True) == "opt"
    assert depthwise_s8_path(three, one, two, helium=False) == "generic"
    assert conv_kind("arm_depthwise_conv_wrapper_s8", three, one, one, "mve", 64) == "dwopt_s8"
    assert conv_kind("arm_convolve_1x1_s8_fast", one, (0, 0), one, "dsp", 64) == "conv1x1_s8"
    assert conv_kind("arm_convolve_s8", one, (0, 0), one, "dsp", 1) == "fc_s8"
    assert conv_kind("arm_convolve_1x1_s4_fast", one, (0, 0), one, "mve", 1) == "fc_s4"
    assert conv_kind("arm_convolve_s8", three, one, one, "dsp", 1) == "conv_s8"
    with pytest.raises(ValueError, match="2-bit"):
        conv_function(2, False, three, one, one, one, 64)


def test_symbols_count_loops_exactly_at_whole_numbers():
    call = conv_call(7, 13, (5, 5), (5, 5), (3, 3), (1, 1), (1, 1), (1, 1))  # K = 117; 2 + 3 + 3 + 3 + 2 taps a row
    expect = {
        "P": 25,
        "P2": 12,
        "Po": 1,
        "P4": 6,
        "Pr4": 1,
        "n2": 3,
        "no": 1,
        "n4": 1,
        "nr4": 3,
        "nc4": 2,
        "K": 117,
        "K4": 29,
        "Kr4": 1,
        "K16": 7,
        "K16r": 1,
        "Kc16": 8,
        "Ko": 1,
        "V": 13 * 13,
        "R": 13 * 5,
        "T": 9,
        "Ppad": 49,
    }
    for name, value in expect.items():
        assert float(call.symbol(name)) == value, name
    assert set(expect) <= SYMBOLS
    with pytest.raises(ValueError, match="unknown symbol"):
        parse("P*q")


def test_soft_counts_are_differentiable_and_near_one_hot_tend_to_the_discrete_cost(make_soft, make_discrete):
    target = get_target("stm32l4")
    bits = [8] * 10 + [4] * 4 + [0] * 2
    one_hot = evaluate("latency_cortexm", [make_discrete(CONV, (0, 4, 8), bits)], target).item()
    alpha = torch.zeros(3, 16)
    for c, b in enumerate(bits):
        alpha[(0, 4, 8).index(b), c] = 1.0
    alpha.requires_grad_(True)
    near = evaluate("latency_cortexm", [make_soft(CONV, (0, 4, 8), alpha * 40)], target)
    near.backward()
    assert near.item() == pytest.approx(one_hot, rel=1e-6)
    soft = make_soft(CONV, (0, 4, 8), alpha.detach().clone().requires_grad_(True))
    value = evaluate("latency_cortexm", [soft], target)
    assert torch.isfinite(value)


def test_four_bit_weights_cost_more_instructions_than_eight_on_every_core(make_discrete):
    """What the measurements showed (issue 22): the s4 kernels unpack nibbles."""
    for name in CORTEX_M:
        target = get_target(name)
        w8 = evaluate("latency_cortexm", [make_discrete(CONV, (0, 4, 8), [8] * 16)], target).item()
        w4 = evaluate("latency_cortexm", [make_discrete(CONV, (0, 4, 8), [4] * 16)], target).item()
        assert w4 > w8, name


def test_instructions_of_a_hand_built_list_price_layers_only(make_discrete):
    target = get_target("stm32l4")
    table = target_table(target)
    choice = make_discrete(CONV, (0, 4, 8), [8] * 16)
    alone = instructions([choice], table, target)
    call = conv_call(16.0, 8.0, (8, 8), (8, 8), (3, 3), (1, 1), (1, 1), (1, 1))
    by_hand = sum(c * float(Call.feature(call, f)) for f, c in table.coefficients("conv_s8").items())
    assert float(alone) == pytest.approx(by_hand, rel=1e-12)


def test_a_target_may_name_a_built_in_table(make_discrete):
    base = get_target("stm32l4")
    other = dataclasses.replace(base, params={**base.params, "latency_table": "cortex-m4"})
    choice = make_discrete(CONV, (0, 4, 8), [8] * 8 + [4] * 8)
    assert evaluate("latency_cortexm", [choice], other).item() == evaluate("latency_cortexm", [choice], base).item()


def test_a_layer_with_one_weight_option_copies_nothing(make_discrete):
    """Its one precision group always holds every kept channel, so model.c writes in place (no scatter)."""
    target = get_target("stm32l4")
    for bits in ([8] * 16, [8] * 12 + [0] * 4):
        alone = evaluate("latency_cortexm", [make_discrete(CONV, (0, 8), bits)], target).item()
        among = evaluate("latency_cortexm", [make_discrete(CONV, (0, 4, 8), bits)], target).item()
        assert alone == among
