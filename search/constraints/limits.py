"""The limits a search result must meet: its budget, a RAM budget, the target's own Flash and SRAM.

A user asks "the most accurate network that fits 200 kB of Flash and 64 kB of RAM": that is two
limits on two cost models (`memory` = the exporter's Flash bytes, `peak_activation_ram` = its
planned SRAM peak). Each limit gets its own strength controller in the search
(search/penalty.py) and its own repair afterwards (search/constraints/fit.py); the first limit is always the
`budget` on the run's own cost, so a single-budget run behaves as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

import cost_models
from cost_models.fit import FLASH_COST, RAM_COST
from search.config import SearchConfig
from supernet.spec import LayerChoice
from targets.target import Target


@dataclass(frozen=True)
class Limit:
    """The argmax architecture's `cost` (a registered cost model) must end <= `budget`."""

    cost: str
    budget: float
    source: str = "budget"  # the config key it came from: budget, ram_budget or fit_target


def run_limits(cfg: SearchConfig, target: Target, cost: str, budget: float | None = None) -> tuple[Limit, ...]:
    """Every limit of a run, the budget on `cost` first (`budget` overrides cfg.budget: a path stage's).

    ram_budget limits the planned peak activation RAM; fit_target adds the target's flash_bytes on
    the `memory` cost and ram_bytes on RAM (a tighter budget on the same cost wins)."""
    budget = cfg.budget if budget is None else budget
    wanted: list[Limit] = []
    if budget is not None:
        wanted.append(Limit(cost, budget))
    if cfg.ram_budget is not None:
        wanted.append(Limit(RAM_COST, cfg.ram_budget, "ram_budget"))
    if cfg.fit_target:
        wanted += [
            Limit(FLASH_COST, float(target.flash_bytes), "fit_target"),
            Limit(RAM_COST, float(target.ram_bytes), "fit_target"),
        ]
    merged: dict[str, Limit] = {}
    for limit in wanted:  # one limit per cost model: the tightest (the first of equals)
        if limit.cost not in merged or limit.budget < merged[limit.cost].budget:
            merged[limit.cost] = limit
    # the run's own budget first (the one the grow repair fills), then Flash, then RAM
    return tuple(sorted(merged.values(), key=lambda lim: (lim.cost != cost, lim.cost != FLASH_COST)))


def has_limits(cfg: SearchConfig) -> bool:
    """Does this run search towards limits (budget mode) rather than at a fixed strength only?"""
    return cfg.budget is not None or cfg.ram_budget is not None or cfg.fit_target


def fit_limits_of(cfg: SearchConfig, target: Target, cost: str) -> tuple[float | None, float | None]:
    """(Flash, RAM) limits of a run for cost_models.fit.check_fit; None = the target's own memory."""
    found = {limit.cost: limit.budget for limit in run_limits(cfg, target, cost)}
    return found.get(FLASH_COST), found.get(RAM_COST)


def limit_report(choices: Sequence[LayerChoice], target: Target, limits: Sequence[Limit]) -> list[dict]:
    """Each limit with the discrete architecture's need and whether it is met (metrics.json "limits")."""
    with torch.no_grad():
        needs = [float(cost_models.evaluate(limit.cost, choices, target)) for limit in limits]
    pairs = zip(limits, needs, strict=True)
    return [{**asdict(limit), "need": need, "met": need <= limit.budget} for limit, need in pairs]
