"""The multiple-choice knapsack of the ADMM baselines: one option per item, least error within a size budget."""

from __future__ import annotations

import math

import numpy as np

MAX_CELLS = 20_000  # DP resolution: exact (unit grid) for integer sizes when the budget is below this


def knapsack(errors: list[np.ndarray], sizes: list[np.ndarray], budget: float, cells: int = MAX_CELLS) -> list[int]:
    """Pick one option per item minimising the summed error subject to summed size <= budget.

    Dynamic programming over a size grid: unit 1 when every size is an integer and budget <= cells
    (then the result is optimal), else budget / cells with sizes rounded *up*, so the returned
    choice always fits the budget. Raises ValueError when even the smallest options do not fit.
    """
    integral = all(np.allclose(s, np.round(s)) for s in sizes)
    unit = 1.0 if integral and budget <= cells else budget / cells
    cap = int(math.floor(budget / unit + 1e-9))
    weights = [np.ceil(np.asarray(s, dtype=np.float64) / unit - 1e-9).astype(np.int64) for s in sizes]
    best = np.zeros(cap + 1)  # best[c]: least error of the items so far within size c
    picks = []
    for err, w in zip(errors, weights, strict=True):
        new, arg = np.full(cap + 1, np.inf), np.full(cap + 1, -1, dtype=np.int64)
        for j, (e, s) in enumerate(zip(np.asarray(err, dtype=np.float64), w, strict=True)):
            if s > cap:
                continue
            cand = np.full(cap + 1, np.inf)
            cand[s:] = best[: cap + 1 - s] + e
            better = cand < new
            new[better], arg[better] = cand[better], j
        best = new
        picks.append(arg)
    if not np.isfinite(best[cap]):
        smallest = sum(float(np.min(s)) for s in sizes)
        raise ValueError(f"budget {budget:g} cannot be met: the smallest choice of every layer costs {smallest:g}")
    out, c = [], cap
    for arg, w in zip(reversed(picks), reversed(weights), strict=True):
        j = int(arg[c])
        out.append(j)
        c -= int(w[j])
    return out[::-1]
