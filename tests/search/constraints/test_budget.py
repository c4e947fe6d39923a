"""Budget mode holds at tight budgets: bounded strength, filled budgets, no layer death."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
import torch

import cost_models
from search.constraints.budget import StrengthController
from search.constraints.repair import grow, repair
from search.run import run
from supernet import Architecture, to_supernet
from targets import get_target


def test_strength_moves_at_most_by_the_rate_per_epoch() -> None:
    ctl = StrengthController(budget=100.0, strength=0.1, rate=2.0, steps_per_epoch=50)  # rate e^2 per epoch
    for _ in range(50):
        ctl.update(1e9)  # hugely over budget every step
    assert ctl.strength == pytest.approx(0.1 * math.exp(2.0), rel=1e-9)  # x e^2 in one epoch, not x 1e4
    for _ in range(50):
        ctl.update(0.0)  # far under: shrinks as fast, no faster
    assert ctl.strength == pytest.approx(0.1, rel=1e-9)
    at_aim = ctl.strength
    ctl.update(100.0 * ctl.aim)
    assert ctl.strength == at_aim  # at the aim the strength holds


def _net(seed: int = 0, bits=(0, 2, 4, 8)):
    torch.manual_seed(seed)
    from zoo.models import create_model

    model = create_model("digits_cnn", 4, (1, 8, 8))
    return to_supernet(model, torch.randn(16, 1, 8, 8), bits=bits)


def _size(net, arch) -> float:
    return float(cost_models.evaluate("size", net.layer_choices(arch), get_target("generic")))


def _random_arch(net, rng: random.Random) -> Architecture:
    bits = {}
    for layers in net.groups_of_layers().values():
        n = net.specs[layers[0]].out_channels
        gates = net.layer(layers[0]).gates
        row = [rng.choice(gates.options) for _ in range(n)]
        if not any(row):
            row[0] = max(gates.options)
        for name in layers:
            bits[name] = tuple(row)
    return Architecture(bits, {n: 8 for n in net.layer_names})


@pytest.mark.parametrize("seed", range(6))
def test_grow_fills_the_budget_and_never_exceeds_it(seed: int) -> None:
    net = _net(seed)
    rng = random.Random(seed)
    with torch.no_grad():
        for g in net.all_gates():
            g.alpha.normal_(generator=torch.Generator().manual_seed(seed))
    arch = repair(net, _random_arch(net, rng), "size", get_target("generic"), 1e12)
    budget = _size(net, arch) * rng.uniform(1.1, 3.0)
    grown = grow(net, arch, "size", get_target("generic"), budget)
    size = _size(net, grown)
    assert size <= budget
    # maximal: no single channel can go one option up without overshooting
    for layers in net.groups_of_layers().values():
        gates = net.layer(layers[0]).gates
        row = grown.weight_bits[layers[0]]
        for c, b in enumerate(row):
            i = gates.options.index(b)
            if i + 1 < len(gates.options):
                up = list(row)
                up[c] = gates.options[i + 1]
                trial = replace(grown, weight_bits={**grown.weight_bits, **{n: tuple(up) for n in layers}})
                assert _size(net, trial) > budget


def test_repair_keeps_the_minimum_of_channels_per_group() -> None:
    net = _net()
    full = Architecture.uniform({n: s.out_channels for n, s in net.specs.items()}, 8, 8)
    floor = lambda c: max(1, c // 4)  # noqa: E731
    with pytest.raises(ValueError, match="smallest reachable size is"):
        repair(net, full, "size", get_target("generic"), 1.0, min_kept=floor)
    lowest = {}  # by hand: every prunable group at its floor of channels, every kept channel at 2 bits
    for g, layers in net.groups_of_layers().items():
        n = net.specs[layers[0]].out_channels
        keep = n if g in net.info.unprunable else floor(n)
        for name in layers:
            lowest[name] = tuple([2] * keep + [0] * (n - keep))
    budget = _size(net, Architecture(lowest, {n: 8 for n in net.layer_names}))
    small = repair(net, full, "size", get_target("generic"), budget, min_kept=floor)
    assert _size(net, small) <= budget
    for g, layers in net.groups_of_layers().items():
        n = net.specs[layers[0]].out_channels
        kept = sum(b > 0 for b in small.weight_bits[layers[0]])
        assert kept == (n if g in net.info.unprunable else floor(n))


def _watch_kept(monkeypatch) -> list[dict[str, int]]:
    """Record the argmax kept-channel count of every layer after every search epoch."""
    from search import train
    from supernet import discretize

    seen: list[dict[str, int]] = []
    real = train.hard_accuracy

    def spy(net, ctx):
        arch = discretize(net)
        seen.append({n: sum(b > 0 for b in bits) for n, bits in arch.weight_bits.items()})
        return real(net, ctx)

    monkeypatch.setattr(train, "hard_accuracy", spy)
    return seen


@pytest.mark.parametrize("strength", [10.0, 1e3])
def test_no_group_loses_its_channels_at_any_strength(tiny_cfg, monkeypatch, strength) -> None:
    seen = _watch_kept(monkeypatch)
    cfg = replace(tiny_cfg, strength=strength, finetune_epochs=0, min_channels=0.25)
    metrics = run(cfg)
    assert seen  # the search ran and was watched
    net = _net()
    for kept in seen:
        for name, n in kept.items():
            assert n >= cfg.min_kept(net.specs[name].out_channels), (name, kept)
    assert metrics["test_acc"] > 0.0


def test_tight_budget_fills_it_and_keeps_a_working_network(tiny_cfg, monkeypatch) -> None:
    """5% of the unpruned 8-bit size: argmax inside [90%, 100%] of the budget, no layer death, accuracy far
    above chance. The collapse this guards against (issue 10: every layer at one channel) scores chance;
    a working network here scores 0.59-0.77 depending on the seed and the CPU (an AMD EPYC with torch
    2.14 gets 0.59 at seed 0), so the bar sits at chance + 0.15, four binomial deviations above chance
    on 128 test samples, not inside that spread."""
    net = _net()
    full = _size(net, Architecture.uniform({n: s.out_channels for n, s in net.specs.items()}, 8, 8))
    budget = 0.05 * full
    seen = _watch_kept(monkeypatch)
    cfg = replace(tiny_cfg, budget=budget, warmup_epochs=4, search_epochs=6, finetune_epochs=3, lr=0.005)
    metrics = run(cfg)
    assert 0.9 * budget <= metrics["costs"]["size"] <= budget
    assert metrics["test_acc"] >= 0.4  # 4 classes: chance is 0.25
    assert all(min(k.values()) >= 1 for k in seen)


def test_harden_trains_the_last_share_of_the_search_on_one_hot_gates(tiny_cfg, monkeypatch) -> None:
    from search import train

    modes: list[str] = []
    real = train.hard_accuracy

    def spy(net, ctx):  # called at each search epoch's end, before the mode is switched for evaluation
        modes.append(next(net.all_gates()).mode)
        return real(net, ctx)

    monkeypatch.setattr(train, "hard_accuracy", spy)
    run(replace(tiny_cfg, search_epochs=4, finetune_epochs=0, harden=0.5, sampling="gumbel"))
    assert modes[:4] == ["gumbel", "gumbel", "hard-gumbel", "hard-gumbel"]


def test_harden_must_be_a_share() -> None:
    from search.config import ConfigError, SearchConfig

    with pytest.raises(ConfigError, match=r"harden must be in \[0, 1\]"):
        SearchConfig(harden=1.5)
    with pytest.raises(ConfigError, match=r"harden_collapse must be in \[0, 1\]"):
        SearchConfig(harden_collapse=-0.1)


def test_a_collapsed_argmax_network_hardens_the_rest_of_the_search(tiny_cfg, monkeypatch) -> None:
    """harden_collapse: once the deployed network's accuracy falls below that share of its best, gates stay
    one-hot for the rest of the search."""
    from search import train

    scores = iter([0.8, 0.7, 0.3, 0.9, 0.9, 0.9])  # epoch 2 falls below 0.5 x 0.8
    modes: list[str] = []

    def hard(net, ctx):
        modes.append(next(net.all_gates()).mode)
        return next(scores)

    monkeypatch.setattr(train, "hard_accuracy", hard)
    run(replace(tiny_cfg, search_epochs=5, finetune_epochs=0, harden=0.0, harden_collapse=0.5))
    assert modes[:5] == ["soft", "soft", "soft", "hard", "hard"]


def test_a_method_that_prunes_nothing_is_refused_a_budget_only_pruning_reaches(tiny_cfg) -> None:
    """channel-mps keeps every channel: a budget between joint's floor and the all-channels floor
    is refused for it before training, and accepted for joint."""
    from search.config import ConfigError
    from search.constraints.viability import smallest_viable_cost
    from search.validate import check_budget
    from zoo.models import create_model

    torch.manual_seed(0)
    target, in_shape = get_target("generic"), (1, 8, 8)
    model = create_model("digits_cnn", 10, in_shape)
    x = torch.zeros(2, *in_shape)
    pruned = smallest_viable_cost(model, x, target, "size")
    unpruned = smallest_viable_cost(model, x, target, "size", min_channels=lambda c: c)
    assert pruned < unpruned
    budget = (pruned + unpruned) / 2
    check_budget(replace(tiny_cfg, budget=budget), model, in_shape, target, "size")  # joint: reachable
    with pytest.raises(ConfigError, match=r"budget .* below the smallest viable .*channel-mps prunes no channel"):
        check_budget(replace(tiny_cfg, method="channel-mps", budget=budget), model, in_shape, target, "size")
    check_budget(replace(tiny_cfg, method="channel-mps", budget=unpruned), model, in_shape, target, "size")
