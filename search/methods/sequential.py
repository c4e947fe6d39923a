"""prune-then-mps: pruning search, then a mixed-precision search on the pruned network.

The sequential pipeline that seed 001 (Motetti, Risso, Burrello et al., arXiv 2407.01054)
compares its joint search against: first decide which channels to remove (a {0, top-bits}
search), then the precision of every channel that survived. Both searches are the same
differentiable search as `joint`, on one supernet with the full option set, narrowed per phase
by the gates' allowed-option mask (ChannelGates.set_allowed):

  search-prune  every channel may take {0, top bits}          (strength = cfg.strength, or with cfg.budget
                the budget x top / lowest bits: see prune_budget)
  search-mps    pruned channels are fixed at 0; kept channels choose among the non-zero bits,
                with fresh architecture logits (reference init) and the weights of phase one
                (strength = cfg.strength, or cfg.budget when given)

Each phase runs cfg.search_epochs, so this method trains twice as long as `joint`: the point of
seed 001's comparison. The two phases' wall times are reported as seconds_prune and seconds_mps.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch
from torch import nn

from search.constraints.limits import has_limits
from search.constraints.repair import repair
from search.context import RunContext
from search.methods import MethodResult, register_method
from search.methods.common import build_supernet, set_gates
from search.methods.differentiable import calibration_batch, fit_budget, target_bits
from search.train import search
from supernet import Supernet, discretize


def allow_prune_only(net: Supernet) -> None:
    """Phase one: each channel chooses between 0 (pruned) and the top bit-width."""
    for g in net.weight_gates():
        top = max(g.options)
        g.set_allowed(torch.tensor([b in (0, top) for b in g.options]))


def allow_mps_on_kept(net: Supernet) -> None:
    """Phase two: freeze the pruning decisions of phase one; kept channels choose a non-zero bit-width."""
    for g in net.weight_gates():
        kept = torch.tensor([b > 0 for b in g.choice()])
        if not bool(kept.any()):  # never prune a whole group: keep its most-wanted channel
            alpha = g.logits().detach()
            kept[int((alpha[-1] - alpha[0]).argmax())] = True
        nonzero = torch.tensor([b > 0 for b in g.options])
        mask = torch.where(kept.unsqueeze(0), nonzero.unsqueeze(1), ~nonzero.unsqueeze(1))
        with torch.no_grad():  # a fresh mixed-precision search: reference init alpha[b] = b / max(B)
            g.alpha.copy_(torch.tensor([b / max(g.options) for b in g.options]).unsqueeze(1).expand_as(g.alpha))
        g.set_allowed(mask)


def prune_budget(budget: float | None, options: tuple[int, ...]) -> float | None:
    """Phase one's budget at the top bit-width: the size whose channels, all at the lowest non-zero
    bit-width, fit `budget` (weight bytes scale with bits). Without it, a fixed-strength prune phase
    can keep more channels than any precision choice fits (seen: 18,820 B of 2-bit weights for a
    15 kB budget on CIFAR-10), and phase two cannot prune."""
    if budget is None:
        return None
    nonzero = [b for b in options if b > 0]
    return budget * max(nonzero) / min(nonzero)


@register_method("prune-then-mps", style=4)
def prune_then_mps(model: nn.Module, ctx: RunContext) -> MethodResult:
    bits = target_bits(ctx)
    options = (0, *(b for b in bits if b > 0))
    net = build_supernet(model, calibration_batch(ctx), ctx, bits=options, act_bits=ctx.cfg.act_bits)
    t0 = time.perf_counter()
    allow_prune_only(net)
    phase_one_budget = prune_budget(ctx.cfg.budget, options)
    info_prune = search(net, replace(ctx, cfg=replace(ctx.cfg, budget=phase_one_budget)), phase="search-prune")
    if phase_one_budget is not None:  # phase one's argmax repaired to its budget, so phase two can fit
        set_gates(net, repair(net, discretize(net), ctx.cost, ctx.target, phase_one_budget, ctx.cfg.min_kept))
    t1 = time.perf_counter()
    allow_mps_on_kept(net)
    info_mps = search(net, ctx, phase="search-mps")
    t2 = time.perf_counter()
    arch = discretize(net, {"method": "prune-then-mps", "target": ctx.target.name, "model": ctx.cfg.model})
    if has_limits(ctx.cfg):
        arch = fit_budget(net, arch, ctx)
    kept = sum(b > 0 for bits in arch.weight_bits.values() for b in bits)
    info = {
        **{f"prune_{k}": v for k, v in info_prune.items()},
        **{f"mps_{k}": v for k, v in info_mps.items()},
        "seconds_prune": t1 - t0,
        "seconds_mps": t2 - t1,
        "kept_channels": kept,
    }
    return MethodResult(net, arch, info)
