"""Every cost model on small layers whose costs were worked out by hand (numbers in comments)."""

from __future__ import annotations

import dataclasses

import pytest

from cost_models import evaluate
from supernet.spec import LayerSpec
from targets import get_target

W = (0, 2, 4, 8)
CONV = LayerSpec("conv", "conv", 3, 4, (3, 3), in_spatial=(8, 8), out_spatial=(8, 8))
DW = LayerSpec("dw", "conv", 4, 4, (3, 3), groups=4, in_spatial=(8, 8), out_spatial=(8, 8))
FC = LayerSpec("fc", "linear", 4, 10, in_unit=16)  # flatten of 4 channels x 4x4 pixels
CONV1D = LayerSpec("c1d", "conv", 2, 6, (5,), in_spatial=(32,), out_spatial=(28,))
PRUNED_IN = LayerSpec("pin", "conv", 4, 2, (3, 3), in_spatial=(8, 8), out_spatial=(8, 8))


def cost(name, choices, target="generic"):
    return evaluate(name, choices, get_target(target) if isinstance(target, str) else target).item()


@pytest.fixture
def conv(make_discrete):
    # wpc = 3*9 = 27; channels at 8, 4, pruned, 2 bits
    return make_discrete(CONV, W, [8, 4, 0, 2])


@pytest.fixture
def dw(make_discrete):
    # depthwise shares its producer's gates: in_keep = its own keep
    return make_discrete(DW, W, [8, 0, 4, 4], in_kept=[1, 0, 1, 1])


@pytest.fixture
def fc(make_discrete):
    # output layer (no 0 option); input channel 1 pruned upstream -> 3 * 16 = 48 features
    return make_discrete(FC, (2, 4, 8), [8] * 5 + [4] * 5, in_kept=[1, 0, 1, 1])


def test_size_conv_depthwise_linear(conv, dw, fc):
    assert cost("size", [conv]) == 27 + 14 + 7  # 27*8/8, ceil(27*4/8 = 13.5), ceil(27*2/8 = 6.75)
    assert cost("size", [dw]) == 9 + 9  # one 8-bit channel of 9 weights, two 4-bit: 2*9*4/8
    assert cost("size", [fc]) == 240 + 120  # 5 * 48 at 8 bits, 5 * 48 at 4 bits
    assert cost("size", [conv, dw, fc]) == 48 + 18 + 360


def test_size_bits_is_seed_formula(conv, fc):
    assert cost("size_bits", [conv]) == 27 * (8 + 4 + 2)
    assert cost("size_bits", [fc]) == 48 * (5 * 8 + 5 * 4)


def test_size_pruned_inputs(make_discrete):
    # 2 of 4 input channels kept -> 18 weights per channel; 2 channels at 4 bits -> 2*18*4/8
    choice = make_discrete(PRUNED_IN, W, [4, 4], in_kept=[1, 0, 1, 0])
    assert cost("size", [choice]) == 18
    assert cost("macs", [choice]) == 64 * 18 * 2


def test_memory_adds_metadata_per_kept_channel(conv, dw, fc):
    assert cost("memory", [conv]) == 48 + 3 * (4 + 4 + 1)
    assert cost("memory", [dw, fc]) == 18 + 360 + (3 + 10) * 9
    cmsis = dataclasses.replace(get_target("generic"), flavour="cmsis-nn")  # int32 shift: 12 bytes per channel
    assert cost("memory", [conv], cmsis) == 48 + 3 * (4 + 4 + 4)


def test_metadata_sizes_are_the_flavours_not_a_target_parameter():
    with pytest.raises(ValueError, match="params.shift_bytes is not a target setting.*'cmsis-nn' writes 12"):
        dataclasses.replace(get_target("stm32h7"), params={"shift_bytes": 1})


def test_macs_and_bitops(conv, dw, fc, make_discrete):
    assert cost("macs", [conv]) == 64 * 27 * 3
    assert cost("macs", [dw]) == 64 * 9 * 3
    assert cost("macs", [fc]) == 48 * 10
    assert cost("bitops", [conv]) == 64 * 27 * (8 + 4 + 2) * 8
    assert cost("bitops", [fc]) == 48 * (5 * 8 + 5 * 4) * 8
    a4 = make_discrete(CONV, W, [8, 4, 0, 2], act=4)
    assert cost("bitops", [a4]) == 64 * 27 * 14 * 4


def test_peak_activation_ram(conv, dw, fc, make_discrete):
    assert cost("peak_activation_ram", [conv]) == 3 * 64 + 3 * 64  # 3 in + 3 kept out channels, 8x8, 8 bit
    assert cost("peak_activation_ram", [fc]) == 48 + 10
    assert cost("peak_activation_ram", [conv, dw, fc]) == 384
    packed = make_discrete(CONV, W, [8, 4, 0, 2], act=2, out_act=4)
    assert cost("peak_activation_ram", [packed]) == 3 * 64 * 2 / 8 + 3 * 64 * 4 / 8


def test_latency_mpic(conv, make_discrete):
    per_channel = 64 * 27
    expected = per_channel / 2.1 + per_channel / 2.3 + per_channel / 2.5  # a8: w8, w4, w2
    assert cost("latency_mpic", [conv], "mpic") == pytest.approx(expected, rel=1e-12)
    a2 = make_discrete(CONV, W, [8, 4, 0, 2], act=2)
    assert cost("latency_mpic", [a2], "mpic") == pytest.approx(per_channel * (1 / 2.2 + 1 / 4.0 + 1 / 6.5), rel=1e-12)


def test_latency_gap8(conv, dw, fc, make_discrete):
    # ceil(8/2)*ceil(8/8) * (2*9*3 + ceil(3/4) * (15 + 14*ceil(27/4))) = 4 * (54 + 113)
    assert cost("latency_gap8", [conv], "gap8") == 668
    assert cost("latency_gap8", [dw], "gap8") == 4 * 1 * 8 * 8 * 3 * 3
    assert cost("latency_gap8", [fc], "gap8") == 24 * 3  # ceil(48/2) * ceil(10/4)
    c1d = make_discrete(CONV1D, W, [8, 8, 0, 8, 0, 8])
    # Conv1d runs as (1, 28): ceil(1/2) * ceil(28/8) = 4 iterations of 2*5*2 + 1 * (15 + 14*ceil(10/4))
    assert cost("latency_gap8", [c1d], "gap8") == 4 * (2 * 5 * 2 + 1 * (15 + 14 * 3))
    slow = dataclasses.replace(get_target("gap8"), params={"subbyte_overhead": 0.1})
    assert cost("latency_gap8", [conv], slow) == pytest.approx(668 * (1 + 0.1 * 2 / 3), rel=1e-12)


def test_latency_gap8_non_square_map_height_first(make_discrete):
    """PLiNIO's orientation: ceil(H/2) * ceil(W/8) iterations (8 cores split the output width).

    3x3 conv, 64 -> 64, per iteration 2*9*64 + ceil(64/4) * (15 + 14*ceil(576/4)) = 1152 + 16*2031 = 33,648.
    H x W = 25 x 5: ceil(25/2) * ceil(5/8) = 13 iterations -> 437,424; 5 x 25: 3 * 4 = 12 -> 403,776.
    """
    tall = LayerSpec("tall", "conv", 64, 64, (3, 3), in_spatial=(25, 5), out_spatial=(25, 5))
    wide = dataclasses.replace(tall, name="wide", in_spatial=(5, 25), out_spatial=(5, 25))
    assert cost("latency_gap8", [make_discrete(tall, W, [8] * 64)], "gap8") == 437_424
    assert cost("latency_gap8", [make_discrete(wide, W, [8] * 64)], "gap8") == 403_776


def test_latency_ne16_by_hand(make_discrete):
    """3x3 conv, 20 -> 40 channels (34 at 8 bits, 6 at 4 bits), 7x4 output, 8-bit activations.

    ceil(7/3) * ceil(4/3) = 6 spatial tiles; ceil(20/16) = 2 input-channel tiles; load 6 + 25 = 31.
    Per channel tile: 2 * (31 + 6 + 6 + 2) + 9 + 13 = 112; per channel: 2 * w_bits + 1.
    8-bit group: ceil(34/32) * 112 + 34 * 17 = 802; 4-bit group: 112 + 6 * 9 = 166 -> 6 * 968 = 5808.
    1x1 conv 20 -> 40 (all 8 bits): load 10 + 9 = 19, per tile 2 * (19 + 14) + 22 = 88, per channel
    2 + 1 = 3 (weights are not bit-serial in 1x1 mode): 6 * (2 * 88 + 40 * 3) = 1776.
    Depthwise 3x3, 20 channels at 2 bits: per tile 31 + 14 + 22 = 67, per channel 1 + 2 + 1:
    6 * (ceil(20/16) * 67 + 20 * 4) = 1284.
    """
    spec = LayerSpec("c", "conv", 20, 40, (3, 3), in_spatial=(7, 4), out_spatial=(7, 4))
    one = dataclasses.replace(spec, name="p", kernel_size=(1, 1))
    dwl = LayerSpec("d", "conv", 20, 20, (3, 3), groups=20, in_spatial=(7, 4), out_spatial=(7, 4))
    a8 = {"act": 8, "out_act": 8, "act_options": (8,)}
    assert cost("latency_ne16", [make_discrete(spec, W, [8] * 34 + [4] * 6, **a8)], "gap9_ne16") == 5808
    assert cost("latency_ne16", [make_discrete(one, W, [8] * 40, **a8)], "gap9_ne16") == 1776
    assert cost("latency_ne16", [make_discrete(dwl, W, [2] * 20, **a8)], "gap9_ne16") == 1284
    with pytest.raises(ValueError, match="8-bit activations"):
        cost("latency_ne16", [make_discrete(spec, W, [8] * 40, act=4)], "gap9_ne16")


def test_latency_cortexm(make_discrete, tmp_path):
    """A table with round numbers: a call costs 100 + 10 (s8) or 20 (s4) per pixel pair x channel x 4 columns,
    a scatter 1 per copied byte; 2 cycles per instruction."""
    (tmp_path / "t.toml").write_text("""core = "m4"
path = "dsp"
[kinds.conv_s8]
"1" = 100
"P2*n*K4" = 10
[kinds.conv_s4]
"1" = 100
"P2*n*K4" = 20
[kinds.scatter]
"P*n" = 1
[kinds.network]
"1" = 0
""")
    base = get_target("stm32l4")
    target = dataclasses.replace(
        base, params={**base.params, "latency_table": str(tmp_path / "t.toml"), "cycles_per_instruction": 2.0}
    )
    # CONV 3x3, pad 1, 8x8 -> 32 pixel pairs, K = 27 columns -> 6 steps of 4. s8: 1 channel, s4: 2 channels.
    two = make_discrete(CONV, (0, 4, 8), [8, 4, 0, 4])
    s8, s4, scatter = 100 + 10 * 32 * 1 * 6, 100 + 20 * 32 * 2 * 6, 64 * 1 + 64 * 2
    assert cost("latency_cortexm", [two], target) == 2 * (s8 + s4 + scatter)
    one_group = make_discrete(CONV, (0, 4, 8), [4, 4, 0, 4])  # one call, written in place: no scatter
    assert cost("latency_cortexm", [one_group], target) == 2 * (100 + 20 * 32 * 3 * 6)
    pruned_in = make_discrete(CONV, (0, 4, 8), [4, 4, 0, 4], in_kept=[1, 0, 1])  # K = 18 -> 4 steps
    assert cost("latency_cortexm", [pruned_in], target) == 2 * (100 + 20 * 32 * 3 * 4)


def test_cortexm_refuses_2_bit_weights(conv):
    with pytest.raises(ValueError, match="2-bit"):
        cost("latency_cortexm", [conv], "stm32l4")
    with pytest.raises(ValueError, match="2-bit"):
        cost("size", [conv], "stm32l4")
