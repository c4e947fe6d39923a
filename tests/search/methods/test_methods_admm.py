"""ADMM's V-step: the multiple-choice knapsack and the projection onto the model-size budget."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import cost_models
from search.config import SearchConfig
from search.context import RunContext
from search.methods.admm import Projection
from search.methods.knapsack import knapsack
from search.rundir import Checkpoints, History
from supernet import to_supernet
from supernet.quant import quantize_weight
from targets import get_target
from zoo.data import load_dataset
from zoo.models import create_model


def _brute_force(errors, sizes, budget):
    best = (math.inf, None)
    for pick in itertools.product(*(range(len(e)) for e in errors)):
        size = sum(s[j] for s, j in zip(sizes, pick, strict=True))
        err = sum(e[j] for e, j in zip(errors, pick, strict=True))
        if size <= budget and err < best[0]:
            best = (err, pick)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_knapsack_is_optimal_and_within_budget(seed):
    rng = np.random.default_rng(seed)
    items = rng.integers(2, 5)
    sizes = [rng.integers(1, 30, size=rng.integers(2, 6)).astype(float) for _ in range(items)]
    errors = [rng.random(len(s)) * 10 for s in sizes]
    budget = float(rng.integers(sum(s.min() for s in sizes), sum(s.max() for s in sizes) + 1))
    pick = knapsack(errors, sizes, budget)
    size = sum(s[j] for s, j in zip(sizes, pick, strict=True))
    err = sum(e[j] for e, j in zip(errors, pick, strict=True))
    best_err, _ = _brute_force(errors, sizes, budget)
    assert size <= budget
    assert err == pytest.approx(best_err)


def test_knapsack_on_a_coarse_grid_still_fits():
    rng = np.random.default_rng(0)
    sizes = [rng.random(6) * 1e5 for _ in range(4)]
    errors = [rng.random(6) for _ in range(4)]
    budget = 2.0e5
    pick = knapsack(errors, sizes, budget, cells=50)
    assert sum(s[j] for s, j in zip(sizes, pick, strict=True)) <= budget


def test_knapsack_refuses_an_impossible_budget():
    with pytest.raises(ValueError, match="cannot be met"):
        knapsack([np.array([0.0, 1.0])], [np.array([5.0, 3.0])], 2.0)


@pytest.fixture
def projection_setup(tmp_path):
    torch.manual_seed(0)
    cfg = SearchConfig(dataset="synthetic", progress=False, out_dir=str(tmp_path))
    data = load_dataset("synthetic", seed=0)
    ctx = RunContext(
        cfg,
        tmp_path,
        data,
        get_target("generic"),
        "size",
        History(tmp_path / "h.csv"),
        Checkpoints(Path(tmp_path) / "ck"),
    )
    net = to_supernet(create_model("digits_cnn", 4, (1, 8, 8)), torch.randn(16, 1, 8, 8), bits=(0, 2, 4, 8))
    return net, ctx


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.3, 0.6])
def test_projection_meets_the_budget_exactly(projection_setup, fraction):
    net, ctx = projection_setup
    full = Projection(net, ctx, (1, 2, 4, 8), 1e12)
    budget = fraction * full.cost(full.full)
    proj = Projection(net, ctx, (1, 2, 4, 8), budget)
    w = {n: net.layer(n).weight.detach() for n in net.layer_names}
    first, _ = proj.project(w, None)
    arch, v = proj.project(w, first)
    exact = float(cost_models.evaluate("size", net.layer_choices(arch), ctx.target))
    assert exact <= budget
    assert exact >= 0.75 * budget  # the budget is used up to what one more upgrade would overshoot
    for n in net.layer_names:  # V is W with pruned channels zeroed and kept ones quantized at their bits
        for c, b in enumerate(arch.weight_bits[n]):
            levels = (v[n][c] * 1e5).round().unique().numel()  # (the straight-through sum leaves float noise)
            assert (torch.count_nonzero(v[n][c]) == 0) if b == 0 else levels <= max(2, 2**b - 1)


def test_projection_is_the_least_squares_choice_on_one_layer(projection_setup):
    """||V - Z||^2 of a layer's (kept channels, bits) options equals the best over every channel subset."""
    net, ctx = projection_setup
    proj = Projection(net, ctx, (2, 4, 8), 1e12)
    w = {n: net.layer(n).weight.detach() for n in net.layer_names}
    errs, _ = proj.errors(w)
    layer = proj.items[0][0]  # features.0: 16 prunable channels
    for j, (k, b) in enumerate(proj.options[0]):
        if k in (1, 3, 16) and b in (2, 4):
            best = min(_err(w[layer], list(keep), b) for keep in itertools.combinations(range(16), k))
            assert errs[0][j] == pytest.approx(best, rel=1e-4)


def _err(w, keep, bits):
    v = torch.zeros_like(w)
    v[keep] = quantize_weight(w, bits)[keep]
    return float((v - w).pow(2).sum())


def test_projection_keeps_everything_at_top_bits_with_a_huge_budget(projection_setup):
    net, ctx = projection_setup
    proj = Projection(net, ctx, (2, 4, 8), 1e12)
    arch, _ = proj.project({n: net.layer(n).weight.detach() for n in net.layer_names}, None)
    assert all(set(b) == {8} for b in arch.weight_bits.values())
