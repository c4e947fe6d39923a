"""Two limits at once: a Flash budget and a RAM budget (or the target's memories) in one search."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from search.config import ConfigError, SearchConfig, load_config
from search.constraints.limits import Limit, fit_limits_of, has_limits, run_limits
from search.run import run
from targets import get_target


def test_budget_and_ram_budget_are_two_limits() -> None:
    target = get_target("gap8")
    cfg = SearchConfig(budget=200e3, ram_budget=64e3)
    assert run_limits(cfg, target, "memory") == (
        Limit("memory", 200e3),
        Limit("peak_activation_ram", 64e3, "ram_budget"),
    )
    assert fit_limits_of(cfg, target, "memory") == (200e3, 64e3)
    assert run_limits(SearchConfig(), target, "memory") == ()
    assert not has_limits(SearchConfig()) and has_limits(SearchConfig(ram_budget=1.0))


def test_fit_target_adds_the_targets_memories_and_the_tighter_budget_wins() -> None:
    target = get_target("gap8")
    loose = run_limits(SearchConfig(fit_target=True, budget=1e12), target, "memory")
    assert loose == (
        Limit("memory", float(target.flash_bytes), "fit_target"),
        Limit("peak_activation_ram", float(target.ram_bytes), "fit_target"),
    )
    tight = run_limits(SearchConfig(fit_target=True, ram_budget=1000.0), target, "latency_gap8")
    assert tight[0] == Limit("memory", float(target.flash_bytes), "fit_target")
    assert tight[1] == Limit("peak_activation_ram", 1000.0, "ram_budget")


def test_ram_budget_reads_units_and_must_be_positive() -> None:
    assert load_config(None, ["ram_budget=64kB"]).ram_budget == 64e3
    with pytest.raises(ConfigError, match="ram_budget must be > 0"):
        load_config(None, ["ram_budget=0"])
    with pytest.raises(ConfigError, match="fit_target"):
        load_config(None, ["fit_target=maybe"])


def test_an_unreachable_ram_budget_is_refused_before_training(tiny_cfg) -> None:
    with pytest.raises(ConfigError, match=r"ram_budget 10 is below the smallest viable .*peak_activation_ram"):
        run(replace(tiny_cfg, ram_budget=10.0))
    assert not list(Path(tiny_cfg.out_dir).glob("*/history.csv"))  # refused before any epoch


def test_a_search_under_a_flash_and_a_ram_limit_meets_both(tiny_cfg) -> None:
    """Flash alone leaves the RAM need at R; with ram_budget = 0.8 R as well, both limits hold."""
    base = replace(tiny_cfg, cost="memory", warmup_epochs=2, search_epochs=4, finetune_epochs=1, lr=0.005)
    full = run(replace(base, method="uniform", search_epochs=0, finetune_epochs=0, name="full"))
    flash = 0.5 * full["costs"]["memory"]
    alone = run(replace(base, budget=flash, name="flash-only"))
    ram = 0.8 * alone["costs"]["peak_activation_ram"]
    both = run(replace(base, budget=flash, ram_budget=ram, name="both"))
    assert both["costs"]["memory"] <= flash and both["costs"]["peak_activation_ram"] <= ram
    assert [lim["met"] for lim in both["limits"]] == [True, True]
    assert both["fit"]["fits"] and both["fit"]["ram_limit"] == int(ram) and both["fit"]["flash_limit"] == int(flash)
    history = pd.read_csv(next(Path(base.out_dir).glob("both*")) / "history.csv")
    search_rows = history[history["phase"] == "search"]
    assert {"arch_cost@peak_activation_ram", "strength@peak_activation_ram"} <= set(search_rows.columns)
    assert (search_rows["budget@peak_activation_ram"] == ram).all()
