"""CMSIS-NN's integer arithmetic in numpy, bit for bit (read from the kernel sources, pure-C path).

Requantization (Include/arm_nnsupportfunctions.h, `arm_nn_requantize`, built without
CMSIS_NN_USE_SINGLE_ROUNDING, which is the default): a real factor is an int32 multiplier m in
[2^30, 2^31) and a *left* shift exponent e (TFLite's QuantizeMultiplier: real = m * 2^(e - 31)).

    x1 = int32(val << max(e, 0))                     (wraps like the C int32 multiply)
    x2 = (x1 * m + 2^30) >> 31                       (arm_nn_doubling_high_mult_no_sat: half up)
    y  = round_half_away_from_zero(x2 / 2^max(-e, 0)) (arm_nn_divide_by_power_of_two)

Two roundings, unlike the reference flavour's single round-half-up (fixedpoint.py); the
interpreter of the cmsis-nn flavour uses these functions, so it equals the kernels, not the
reference. Average pooling divides with C's truncating division after adding +-count/2.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
ADD_LEFT_SHIFT = 20  # TFLite / CMSIS-NN int8 add: inputs are shifted left by 20 before rescaling


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(m, e) with real ~= m * 2^(e - 31), m in [2^30, 2^31) or 0 (TFLite QuantizeMultiplier)."""
    real = float(real)
    if not (0.0 <= real < 2.0**30) or math.isnan(real):
        raise ValueError(f"requantization scale {real!r} is outside [0, 2^30)")
    if real == 0.0:
        return 0, 0
    mantissa, exp = math.frexp(real)
    m = round(mantissa * 2**31)
    if m == 2**31:
        m, exp = m // 2, exp + 1
    if exp < -31:  # below CMSIS-NN's shift range: the factor is ~0 (TFLite sets it to 0 too)
        return 0, 0
    return int(m), int(exp)


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel `quantize_multiplier`: (int32 multipliers, int32 shifts), as cmsis_nn_per_channel_quant_params."""
    pairs = [quantize_multiplier(r) for r in np.asarray(reals, dtype=np.float64).ravel()]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's complement int32 wrap of int64 values (what a C int32 multiply does on Cortex-M)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def requantize(val: np.ndarray, m: np.ndarray | int, e: np.ndarray | int) -> np.ndarray:
    """arm_nn_requantize(val, m, e) elementwise (int64 arrays in, int64 out); val is an int32 value."""
    val = wrap32(val)
    m = np.asarray(m, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    left = np.maximum(e, 0)
    right = np.maximum(-e, 0)
    x1 = wrap32(val << left)
    x2 = (x1 * m + (1 << 30)) >> 31
    mask = (np.int64(1) << right) - 1
    remainder = x2 & mask
    result = x2 >> right
    threshold = (mask >> 1) + (result < 0)
    return result + (remainder > threshold)


def avg_divide(total: np.ndarray, count: int) -> np.ndarray:
    """arm_avgpool_s8's rounding: (sum > 0 ? sum + count/2 : sum - count/2) / count, C division."""
    total = np.asarray(total, dtype=np.int64)
    half = count // 2
    biased = np.where(total > 0, total + half, total - half)
    return np.sign(biased) * (np.abs(biased) // count)


def add_params(s1: float, s2: float, s_out: float) -> dict[str, int]:
    """arm_elementwise_add_s8 multipliers and shifts for input scales s1, s2 and output scale s_out (TFLite)."""
    twice_max = 2.0 * max(s1, s2)
    m1, e1 = quantize_multiplier(s1 / twice_max)
    m2, e2 = quantize_multiplier(s2 / twice_max)
    mo, eo = quantize_multiplier(twice_max / (2**ADD_LEFT_SHIFT * s_out))
    return {
        "input_1_mult": m1,
        "input_1_shift": e1,
        "input_2_mult": m2,
        "input_2_shift": e2,
        "left_shift": ADD_LEFT_SHIFT,
        "out_mult": mo,
        "out_shift": eo,
    }
