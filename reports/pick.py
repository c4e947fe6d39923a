"""Which network to pick: the most accurate point that fits its target's Flash and RAM and every budget given.

Used by the Pareto PNG and the HTML report alike, so both highlight the same point. A run's fit is
read from its metrics.json (`fit`, written since the Flash/RAM check) defensively, as untrusted
data: a missing or malformed entry means "not known", never an error, and a point whose fit is not
known is not ruled out. Ties go to the cheaper point, then to the first one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from search.config import parse_quantity

# Costs a target limits, and where metrics.json's `fit` keeps the limit.
LIMITS = {"memory": ("flash_limit", "Flash"), "peak_activation_ram": ("ram_limit", "RAM")}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fit_of(metrics: dict[str, Any]) -> tuple[bool | None, dict[str, float]]:
    """(fits the target's Flash and RAM, or None when not known; {cost: the target's limit on it})."""
    fit = metrics.get("fit")
    if not isinstance(fit, dict):
        return None, {}
    fits = fit["fits"] if isinstance(fit.get("fits"), bool) else None
    limits = {cost: float(fit[key]) for cost, (key, _) in LIMITS.items() if _number(fit.get(key)) and fit[key] > 0}
    return fits, limits


def parse_budgets(texts: Iterable[str]) -> dict[str, float]:
    """'--budget 10kB' (key '': the plotted cost, or each target's search cost) or 'memory=10kB'."""
    out: dict[str, float] = {}
    for text in texts:
        cost, _, value = text.rpartition("=")
        amount = parse_quantity(value)
        if amount <= 0:
            raise ValueError(f"--budget must be above 0, got {text!r}")
        if cost.strip() in out:
            raise ValueError(f"--budget names {cost.strip() or 'the plotted cost'} twice")
        out[cost.strip()] = amount
    return out


def best(accs: Sequence[float], costs: Sequence[float], ok: Sequence[bool]) -> int | None:
    """Index of the most accurate point among those `ok`; ties to the cheaper, then the first. None: none is ok."""
    picks = [i for i in range(len(accs)) if ok[i]]
    return min(picks, key=lambda i: (-accs[i], costs[i], i)) if picks else None


def amount(value: float, unit: str) -> str:
    """'10 kB', '1.5 MB', '300k cycles', '12 B': a budget or limit as a person would write it."""
    short = {"bytes": "B"}.get(unit, unit)
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.4g} {prefix}{short}" if short == "B" else f"{value / scale:.4g}{prefix} {short}"
    return f"{value:.4g} {short}".strip()


def rule(budget: float | None, cost: str, unit: str, fit_known: bool) -> str:
    """How the highlighted point was chosen: 'most accurate under the 10 kB memory budget, fits Flash and RAM'."""
    words = f"most accurate under the {amount(budget, unit)} {cost} budget" if budget is not None else "most accurate"
    if fit_known:
        words += ", fits Flash and RAM" if budget is not None else " that fits Flash and RAM"
    return words
