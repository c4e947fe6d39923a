"""Fixed-point requantization: multiplier precision and exact round-half-up semantics."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.fixedpoint import quantize_multiplier, requantize


def test_multiplier_has_31_significant_bits():
    rng = np.random.default_rng(0)
    for real in np.exp(rng.uniform(np.log(1e-9), np.log(1e4), 500)):
        m, n = quantize_multiplier(real)
        assert 2**30 <= m < 2**31 and 0 <= n <= 62
        assert abs(m / 2.0**n - real) <= real * 2.0**-31


def test_special_multipliers():
    assert quantize_multiplier(1.0) == (2**30, 30)
    assert quantize_multiplier(0.0) == (0, 0)
    with pytest.raises(ValueError):
        quantize_multiplier(2.0**31)


def test_requantize_is_round_half_up_of_the_exact_product():
    rng = np.random.default_rng(1)
    x = rng.integers(-(2**31), 2**31, 2000)
    for real in (0.37, 3.1e-4, 12.5, 1.0):
        m, n = quantize_multiplier(real)
        got = requantize(x, m, n, -(2**40), 2**40)
        want = [(int(v) * m + (1 << (n - 1) if n else 0)) >> n for v in x]  # Python ints: exact
        assert got.tolist() == want


def test_requantize_ties_round_up_and_clamps():
    m, n = quantize_multiplier(0.5)
    assert requantize(np.array([1, -1, 3, -3]), m, n, -100, 100).tolist() == [1, 0, 2, -1]
    assert requantize(np.array([1000, -1000]), m, n, 0, 255).tolist() == [255, 0]
    # inputs saturate to int32 before the multiply
    assert requantize(np.array([2**40]), *quantize_multiplier(1.0), -(2**40), 2**40).tolist() == [2**31 - 1]
