"""CMSIS-NN's arithmetic in numpy: hand-computed values, and the one-output-step bound of its requantization."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.cmsis_arith import add_params, avg_divide, quantize_multiplier, requantize, wrap32
from deploy.ram_plan import plan_ram


def test_quantize_multiplier_is_tflite_convention():
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(0.25) == (2**30, -1)
    assert quantize_multiplier(3.0) == (3 * 2**29, 2)
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(2.0**-40) == (0, 0)  # below the shift range


@pytest.mark.parametrize(
    ("val", "real", "expected"),
    [
        (3, 0.5, 2),  # 1.5: half up in the doubling high multiply
        (-3, 0.5, -1),  # -1.5 -> -1 (half up, towards +inf)
        (3, 0.25, 1),  # 0.75
        (6, 0.25, 2),  # 1.5: 3.5 -> 3 after the multiply, then 3 / 2 rounds half away -> 2
        (5, 0.25, 2),  # 1.25 -> 2: the double rounding (1.5 after the multiply, then half away)
        (-6, 0.25, -2),  # -1.5 -> -2: half away from zero in the divide
        (7, 3.0, 21),  # left shift
    ],
)
def test_requantize_hand_values(val, real, expected):
    m, e = quantize_multiplier(real)
    assert int(requantize(np.int64(val), m, e)) == expected


def test_requantize_is_within_one_step_of_exact():
    rng = np.random.default_rng(0)
    x = rng.integers(-(2**24), 2**24, 20000)
    reals = 10.0 ** rng.uniform(-6, 0, 20000)
    pairs = [quantize_multiplier(r) for r in reals]
    m = np.array([p[0] for p in pairs])
    e = np.array([p[1] for p in pairs])
    exact = x * (m * 2.0 ** (e - 31))
    err = np.abs(requantize(x, m, e) - exact)
    assert err.max() < 1.0
    assert np.abs(requantize(x, m, e) - np.round(exact)).max() <= 1


def test_wrap32_wraps_like_c():
    assert int(wrap32(np.int64(2**31))) == -(2**31)
    assert int(wrap32(np.int64(-(2**31) - 1))) == 2**31 - 1


@pytest.mark.parametrize(("total", "count", "expected"), [(5, 2, 3), (-5, 2, -3), (-4, 3, -1), (0, 5, 0), (7, 4, 2)])
def test_avg_divide_rounds_half_away_with_c_division(total, count, expected):
    assert int(avg_divide(np.int64(total), count)) == expected


def test_add_params_follow_tflite():
    p = add_params(0.5, 0.25, 0.5)
    assert p["left_shift"] == 20
    assert (p["input_1_mult"], p["input_1_shift"]) == quantize_multiplier(0.5)  # 0.5 / (2 * 0.5)
    assert (p["input_2_mult"], p["input_2_shift"]) == quantize_multiplier(0.25)
    assert (p["out_mult"], p["out_shift"]) == quantize_multiplier(1.0 / (2**20 * 0.5))


def test_ram_plan_reuses_dead_tensors_and_never_overlaps_live_ones():
    sizes = {0: 100, 1: 40, 2: 40, 3: 8}
    ops = [([0], 1), ([1], 2), ([2, 1], 3)]  # tensor 1 is read again by the last op
    plan = plan_ram(sizes, ops, external={0}, final=3)
    o = plan.offsets
    assert set(o) == {1, 2, 3}
    assert abs(o[1] - o[2]) >= 40 and (o[3] >= max(o[1], o[2]) + 40 or o[3] + 8 <= min(o[1], o[2]))
    assert plan.arena_bytes == 88 == plan.peak_live_bytes
    reuse = plan_ram({0: 100, 1: 40, 2: 40, 3: 40}, [([0], 1), ([1], 2), ([2], 3)], external={0}, final=3)
    assert reuse.arena_bytes == 80  # tensor 3 takes tensor 1's place
