"""Fixed-point requantization: a real scale factor as an integer multiplier and a right shift.

real ~= m * 2^-n with m an int32 in [2^30, 2^31) (31 significant bits) and n >= 0 the right
shift, as in Jacob et al. 2018 (arXiv 1712.05877, section 2.2), CMSIS-NN's arm_nn_requantize
and PULP-NN. Applying it to an int32 x:

    y = (x * m + 2^(n-1)) >> n        (int64 product, arithmetic shift)

which is floor(x * m / 2^n + 1/2): round half up (towards +inf). CMSIS rounds ties away from
zero and PyTorch / ONNX QuantizeLinear round ties to even; the three differ only when
x * m / 2^n is exactly a half, which a 31-bit multiplier makes very rare.
Every int32 input is saturated to int32 before the multiply, so |x * m| < 2^62 never overflows.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_SHIFT = 62  # keeps x * m + 2^(n-1) inside int64


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(m, n) with m * 2^-n ~= real (relative error <= 2^-31); real must be in [0, 2^31)."""
    real = float(real)
    if not (0.0 <= real < 2.0**31) or math.isnan(real):
        raise ValueError(f"requantization scale {real!r} is outside [0, 2^31)")
    if real == 0.0:
        return 0, 0
    mantissa, exp = math.frexp(real)  # real = mantissa * 2^exp, mantissa in [0.5, 1)
    n = 31 - exp
    m = round(mantissa * 2**31)
    if m == 2**31:  # mantissa rounded up to 1.0
        m, n = 2**30, n - 1
    if n > MAX_SHIFT:  # tiny scale: fewer significant bits (the result is ~0 anyway)
        m, n = round(real * 2.0**MAX_SHIFT), MAX_SHIFT
    if n < 0:
        raise ValueError(f"requantization scale {real!r} needs a left shift; not supported")
    return int(m), int(n)


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel version of `quantize_multiplier`: (int32 multipliers, int8 shifts)."""
    pairs = [quantize_multiplier(r) for r in np.asarray(reals, dtype=np.float64).ravel()]
    m = np.array([p[0] for p in pairs], dtype=np.int64)
    n = np.array([p[1] for p in pairs], dtype=np.int64)
    return m.astype(np.int32), n.astype(np.int8)


def saturate(x: np.ndarray, lo: int = INT32_MIN, hi: int = INT32_MAX) -> np.ndarray:
    """Clamp to [lo, hi] in int64."""
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def requantize(x: np.ndarray, m: np.ndarray | int, n: np.ndarray | int, lo: int, hi: int) -> np.ndarray:
    """clamp((sat32(x) * m + 2^(n-1)) >> n, lo, hi) as int64; m, n broadcast against x."""
    x = saturate(x)
    m = np.asarray(m, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    half = np.where(n > 0, np.left_shift(np.int64(1), np.maximum(n - 1, 0)), 0)
    return np.clip((x * m + half) >> n, lo, hi)
