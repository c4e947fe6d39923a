"""Gradient-based searches on a supernet: seed 001's joint method and its ablations.

joint        per-channel bits with the 0 (pruned) option         (seed 001)
channel-mps  per-channel bits, no pruning
prune        pruning only: {0, top bits}
layer-mps    one bit-width per layer, EdMIPS-like, no pruning
"""

from __future__ import annotations

from torch import nn

from search.constraints.fit import fit_limits
from search.constraints.limits import has_limits, run_limits
from search.context import RunContext
from search.methods import MethodResult, register_method
from search.methods.common import build_supernet
from search.train import search
from supernet import discretize


def calibration_batch(ctx: RunContext, n: int = 512):
    return ctx.data.train.batch(slice(0, n))[0]


def target_bits(ctx: RunContext) -> tuple[int, ...]:
    return tuple(sorted(ctx.cfg.bits if ctx.cfg.bits is not None else ctx.target.weight_bits))


def differentiable_search(model: nn.Module, ctx: RunContext, bits: tuple[int, ...], granularity: str = "channel"):
    x = calibration_batch(ctx)
    net = build_supernet(model, x, ctx, bits=bits, act_bits=ctx.cfg.act_bits, granularity=granularity)
    info = search(net, ctx)
    arch = discretize(net, {"method": ctx.cfg.method, "target": ctx.target.name, "model": ctx.cfg.model})
    if has_limits(ctx.cfg):
        arch = fit_budget(net, arch, ctx)
    return MethodResult(net, arch, info)


def fit_budget(net, arch, ctx: RunContext):
    """Repair in both directions against every limit of the run (the budget, a RAM budget, the
    target's memories): shrink while over any, then grow while a larger choice fits all."""
    return fit_limits(net, arch, ctx.target, run_limits(ctx.cfg, ctx.target, ctx.cost), ctx.cfg.min_kept)


@register_method("joint", style=0)
def joint(model: nn.Module, ctx: RunContext) -> MethodResult:
    bits = target_bits(ctx)
    if 0 not in bits:
        bits = (0, *bits)
    return differentiable_search(model, ctx, bits)


@register_method("channel-mps", prunes=False, style=1)
def channel_mps(model: nn.Module, ctx: RunContext) -> MethodResult:
    return differentiable_search(model, ctx, tuple(b for b in target_bits(ctx) if b > 0))


@register_method("prune", style=3)
def prune(model: nn.Module, ctx: RunContext) -> MethodResult:
    return differentiable_search(model, ctx, (0, max(target_bits(ctx))))


@register_method("layer-mps", prunes=False, style=2)
def layer_mps(model: nn.Module, ctx: RunContext) -> MethodResult:
    return differentiable_search(model, ctx, tuple(b for b in target_bits(ctx) if b > 0), granularity="layer")
