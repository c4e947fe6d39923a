"""prune-then-mps under a tight budget: phase one prunes enough for phase two's precisions to fit."""

from __future__ import annotations

from dataclasses import replace

import torch

from search.methods.sequential import prune_budget
from search.run import run
from supernet import Architecture


def test_prune_budget_is_the_top_bits_size_whose_lowest_bits_version_fits() -> None:
    assert prune_budget(15000.0, (0, 2, 4, 8)) == 60000.0
    assert prune_budget(None, (0, 2, 4, 8)) is None


def test_a_tight_budget_is_reachable_after_the_prune_phase(tiny_cfg) -> None:
    import cost_models
    from supernet import to_supernet
    from targets import get_target
    from zoo.models import create_model

    torch.manual_seed(0)
    net = to_supernet(create_model("digits_cnn", 4, (1, 8, 8)), torch.randn(16, 1, 8, 8), bits=(0, 2, 4, 8))
    full = Architecture.uniform({n: s.out_channels for n, s in net.specs.items()}, 8, 8)
    size = float(cost_models.evaluate("size", net.layer_choices(full), get_target("generic")))
    budget = 0.05 * size  # at a fixed-strength prune phase this was unreachable for phase two
    metrics = run(replace(tiny_cfg, method="prune-then-mps", budget=budget, search_epochs=3, finetune_epochs=1))
    assert metrics["costs"]["size"] <= budget
    assert metrics["costs"]["size"] >= 0.9 * budget  # and used
