"""Seed 003: ADMM with a model-size budget (Yang, Gui, Zhu, Liu, "Automatic Neural Network Compression
by Sparsity-Quantization Joint Learning: A Constrained Optimization-based Approach", CVPR 2020).

    min_W loss(W)  s.t.  sum_i b(W_i) * ||W_i||_0 <= B
    -> min_{W,V} max_U  loss(W) + <U, W - V> + rho/2 ||W - V||^2,   V in the budget set

alternating, once per epoch:
  W  one epoch of Adam on  task loss + rho/2 * sum_i ||W_i - V_i + U_i||^2  (train_epoch's penalty)
  V  the projection of W + U onto the budget set: every layer picks a (kept channels, bit-width)
     pair minimising the total ||V - (W + U)||^2 subject to the summed size <= B -- a multiple-
     choice knapsack over layers, solved exactly by dynamic programming over sizes (`knapsack`)
  U  U += W - V  (scaled dual variable); rho grows geometrically from `rho` in the first epoch
     to `rho_max` in the last, as is usual, so that W and V meet.

Bitgate prunes output channels, so a layer's sparsity level is its number of kept channels (those
with the most to lose, i.e. the largest ||z_c||^2 - ||Q_b(z_c) - z_c||^2), and V keeps them
quantized at b bits per output channel (supernet.quant.quantize_weight) and zeroes the rest.
Layers meeting at a residual add are one knapsack item (shared channels, one bit-width).

Budget B: cfg.budget, in the unit of the run's cost (`size`: bytes of packed weights, the seed's
sum b * ||W||_0 rounded up to bytes per layer; `size_bits`: bits exactly as in the seed;
`memory`: bytes including per-channel metadata). Without cfg.budget, B = budget_frac (default
0.25) times the cost of the unpruned all-top-bits network. A layer's size in the knapsack counts
the input channels that the previous V keeps (the coupling between one layer's pruning and the
next layer's size, linearised, then re-linearised around each solution that fits, with a shrunk
budget after one that overshoots); the nearest fitting solution is taken, and sizes counting
every input channel (an upper bound) always give one, so every V and the final architecture fit
(costs that are not sums over layers, e.g. peak activation RAM, are repaired greedily at the end).

Bit-widths: every width in 1..8 the target can store (seed 003 mixes 1- and 2-bit layers; cfg.bits
narrows them), as for seed 000's method.

sparsity = "unstructured" (method option; default "channel") prunes single weights instead: seed 003's
||W||_0 as written, priced in exported bytes by `size_sparse` (run with cost = "size_sparse"); see
search/methods/admm_sparse.py.

Knobs (method_options, AdmmOptions): rho, rho_max, budget_frac, sparsity (channel | unstructured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import cost_models
from search.config import ConfigError, SearchConfig
from search.constraints.repair import repair
from search.context import RunContext
from search.methods import MethodOptions, MethodResult, register_method, require
from search.methods.common import build_supernet, set_gates, storable_bits
from search.methods.differentiable import calibration_batch
from search.methods.knapsack import knapsack
from search.penalty import reference_cost
from search.pricing import layer_choices
from search.train import train_epoch, weight_optimizer
from supernet import Architecture, Supernet
from supernet.quant import quantize_weight


@dataclass(frozen=True)
class AdmmOptions(MethodOptions):
    # rho grows geometrically from `rho` in the first epoch to `rho_max` in the last. Chosen on
    # digits_cnn (BatchNorm folded, 20 epochs): a larger start (1e-2) lets the penalty swamp the task
    # loss before V has settled (72% accuracy at 15% of the w8 size); a smaller end leaves W far from V.
    rho: float = 3e-4
    rho_max: float = 0.3
    budget_frac: float = 0.25  # without cfg.budget: this share of the unpruned all-top-bits cost
    sparsity: Literal["channel", "unstructured"] = "channel"

    def __post_init__(self) -> None:
        for key in ("rho", "rho_max", "budget_frac"):
            require(getattr(self, key) > 0, f"{key} must be > 0", getattr(self, key))


class Projection:
    """The V-step: the nearest point of the budget set to Z = W + U, per knapsack item (weight-gate group)."""

    def __init__(self, net: Supernet, ctx: RunContext, bits: tuple[int, ...], budget: float) -> None:
        self.net, self.ctx, self.bits, self.budget = net, ctx, bits, budget
        self.items = [[n for n in net.layer_names if net.layer(n).gates is g] for g in net.weight_gates()]
        self.options = [
            [(k, b) for k in (range(1, g.channels + 1) if g.prunable else [g.channels]) for b in bits]
            for g in net.weight_gates()
        ]
        self.full = self.arch({i: (net.specs[it[0]].out_channels, max(bits)) for i, it in enumerate(self.items)}, None)
        self.upper = self.sizes(self.full)  # every input channel counted: an upper bound

    def arch(self, choice: dict[int, tuple[int, int]], keep: dict[int, Tensor] | None) -> Architecture:
        """Architecture of a choice {item: (kept, bits)}; kept channels from `keep` (else the first ones)."""
        weight_bits = {}
        for i, layers in enumerate(self.items):
            k, b = choice[i]
            c = self.net.specs[layers[0]].out_channels
            mask = keep[i] if keep is not None else torch.arange(c) < k
            for n in layers:
                weight_bits[n] = tuple(b if m else 0 for m in mask.tolist())
        weight_bits = {n: weight_bits[n] for n in self.net.layer_names}  # network order in arch.json
        acts = {n: max(self.net.layer(n).act.options) for n in self.net.layer_names}
        return Architecture(
            weight_bits,
            acts,
            {"method": "admm", "target": self.ctx.target.name, "model": self.ctx.cfg.model, "budget": self.budget},
        )

    def sizes(self, inputs: Architecture) -> list[np.ndarray]:
        """Cost of every option of every item, with the input channels that `inputs` keeps."""
        base = {c.spec.name: c for c in layer_choices(self.net, inputs)}
        out = []
        for layers, options in zip(self.items, self.options, strict=True):
            row = []
            for k, b in options:
                total = 0.0
                for n in layers:
                    ch = base[n]
                    probs = ch.weight_probs.new_zeros(2, ch.spec.out_channels)
                    probs[1, :k], probs[0, k:] = 1.0, 1.0
                    one = replace(ch, weight_bits=(0, b), weight_probs=probs)
                    total += float(cost_models.evaluate(self.ctx.cost, [one], self.ctx.target))
                row.append(total)
            out.append(np.array(row))
        return out

    @torch.no_grad()
    def errors(self, z: dict[str, Tensor]) -> tuple[list[np.ndarray], list[dict[int, Tensor]]]:
        """||V - Z||^2 of every option, and for each bit-width the channel order (most worth keeping first)."""
        errs, orders = [], []
        for layers, options in zip(self.items, self.options, strict=True):
            norm2 = sum(z[n].flatten(1).pow(2).sum(1) for n in layers)
            order, gains = {}, {}
            for b in self.bits:
                qerr = sum((quantize_weight(z[n], b) - z[n]).flatten(1).pow(2).sum(1) for n in layers)
                gain = norm2 - qerr
                order[b] = gain.argsort(descending=True)
                gains[b] = torch.cat([gain.new_zeros(1), gain[order[b]].cumsum(0)])
            total = float(norm2.sum())
            errs.append(np.array([total - float(gains[b][k]) for k, b in options]))
            orders.append(order)
        return errs, orders

    def arch_of(self, choice: dict[int, tuple[int, int]], orders: list[dict[int, Tensor]]) -> Architecture:
        """Each item keeps its k channels most worth keeping at its bit-width b."""
        keep = {}
        for i, (k, b) in choice.items():
            c = self.net.specs[self.items[i][0]].out_channels
            keep[i] = torch.zeros(c, dtype=torch.bool).index_fill(0, orders[i][b][:k].cpu(), True)
        return self.arch(choice, keep)

    def cost(self, arch: Architecture) -> float:
        with torch.no_grad():
            return float(cost_models.evaluate(self.ctx.cost, layer_choices(self.net, arch), self.ctx.target))

    def project(self, z: dict[str, Tensor], around: Architecture | None, rounds: int = 6) -> tuple[Architecture, dict]:
        """The V-step: (architecture, V) with the least ||V - Z||^2 found within the budget.

        A layer's size depends on how many of its input channels survive, which the knapsack takes as
        given: the sizes count the input channels that `around` (the previous V) keeps -- or all of
        them, an upper bound, when there is none. A solution whose exact cost fits becomes the next
        linearisation point; one that overshoots (it keeps more input channels than assumed) is solved
        again for a budget shrunk by the overshoot. The nearest fitting solution (the upper-bound one
        always fits) then spends what the budget has left greedily (`fill`).
        """
        errs, orders = self.errors(z)
        best, budget = None, self.budget
        sizes = self.upper if around is None else self.sizes(around)
        for _ in range(rounds):
            picks = knapsack(errs, sizes, budget)
            choice = {i: self.options[i][j] for i, j in enumerate(picks)}
            arch = self.arch_of(choice, orders)
            cost = self.cost(arch)
            if cost > self.budget:
                budget *= self.budget / cost
                continue
            error = sum(float(e[j]) for e, j in zip(errs, picks, strict=True))
            if best is None or error < best[0]:
                best = (error, choice)
            if around is not None and arch.weight_bits == around.weight_bits:
                break
            around, sizes, budget = arch, self.sizes(arch), self.budget
        if best is None:
            picks = knapsack(errs, self.upper, self.budget)
            best = (0.0, {i: self.options[i][j] for i, j in enumerate(picks)})
        arch = self.arch_of(self.fill(best[1], errs, orders), orders)
        v = {}
        for n in self.net.layer_names:
            bits = torch.tensor(arch.weight_bits[n])
            mask = (bits > 0).to(z[n]).reshape((-1,) + (1,) * (z[n].dim() - 1))
            v[n] = quantize_weight(z[n], int(bits.max())).detach() * mask
        return arch, v

    def fill(self, choice: dict[int, tuple[int, int]], errs: list[np.ndarray], orders: list[dict[int, Tensor]]) -> dict:
        """Greedy upgrades (one more channel, or an item's next bit-width) with the largest decrease of
        ||V - Z||^2 per unit of exact cost, while the exact cost stays within the budget."""
        index = [{opt: j for j, opt in enumerate(options)} for options in self.options]
        current = self.cost(self.arch_of(choice, orders))
        while True:
            best = None
            for i, (k, b) in choice.items():
                higher = [c for c in self.bits if c > b]
                for cand in ((k + 1, b), (k, higher[0]) if higher else None):
                    if cand is None or cand not in index[i]:
                        continue
                    gain = float(errs[i][index[i][(k, b)]] - errs[i][index[i][cand]])
                    if gain <= 0:
                        continue
                    trial = {**choice, i: cand}
                    cost = self.cost(self.arch_of(trial, orders))
                    if cost <= self.budget and (best is None or gain / max(cost - current, 1e-9) > best[0]):
                        best = (gain / max(cost - current, 1e-9), trial, cost)
            if best is None:
                return choice
            _, choice, current = best


def check_unstructured_cost(cfg: SearchConfig, cost: str) -> None:
    if AdmmOptions.from_config(cfg).sparsity == "unstructured" and cost != "size_sparse":
        raise ConfigError(
            f"admm with sparsity = unstructured prices single weights: set cost = size_sparse (got {cost!r})"
        )


@register_method(
    "admm",
    options=AdmmOptions,
    reads_strength=False,
    knob="budget_frac",
    storable_widths=True,
    checks=(check_unstructured_cost,),
    style=8,
)
def admm(model: nn.Module, ctx: RunContext) -> MethodResult:
    cfg = ctx.cfg
    opts = AdmmOptions.from_config(cfg)
    sparsity = opts.sparsity
    check_unstructured_cost(cfg, ctx.cost)
    bits = storable_bits(ctx)
    net = build_supernet(model, calibration_batch(ctx), ctx, bits=(0, *bits), act_bits=cfg.act_bits[-1:])
    budget = cfg.budget if cfg.budget is not None else opts.budget_frac * reference_cost(net, ctx)
    if sparsity == "unstructured":
        from search.methods.admm_sparse import UnstructuredProjection

        proj = UnstructuredProjection(net, ctx, tuple(b for b in bits if b >= 2), float(budget))
    else:
        proj = Projection(net, ctx, bits, float(budget))
    set_gates(net, proj.full)  # W-steps train the unpruned network at the top bit-width
    net.set_sampling("hard")
    names = net.layer_names
    weights = {n: net.layer(n).weight for n in names}
    arch, v = proj.project({n: w.detach() for n, w in weights.items()}, None)
    state = {"V": v, "U": {n: torch.zeros_like(w) for n, w in weights.items()}, "arch": arch.to_dict()}
    rho0, rho_max = opts.rho, opts.rho_max
    growth = (rho_max / rho0) ** (1.0 / max(cfg.search_epochs - 1, 1))
    opt = weight_optimizer([p for p in net.weight_parameters() if p.requires_grad], ctx)

    def epoch(e: int, gen: torch.Generator) -> dict[str, float]:
        rho = rho0 * growth**e
        v, u = state["V"], state["U"]

        def penalty(_: nn.Module) -> Tensor:
            return 0.5 * rho * sum(F.mse_loss(weights[n], v[n] - u[n], reduction="sum") for n in names)

        metrics = train_epoch(net, ctx, opt, gen, penalty)
        with torch.no_grad():
            z = {n: weights[n].detach() + u[n] for n in names}
            arch, state["V"] = proj.project(z, Architecture.from_dict(state["arch"]))
            state["arch"] = arch.to_dict()
            for n in names:  # dual ascent, then rescaled for next epoch's rho (U is the scaled dual Y / rho)
                u[n].add_(weights[n].detach() - state["V"][n]).div_(growth)
            gap = math.sqrt(sum(float((weights[n] - state["V"][n]).pow(2).sum()) for n in names))
        return {**metrics, "rho": rho, "primal_gap": gap, "projection_cost": proj.cost(arch)}

    ctx.phase(
        "admm",
        cfg.search_epochs,
        {"net": net, "opt": opt},
        epoch,
        extra=lambda: dict(state),
        restore_extra=state.update,
    )
    net.set_sampling("soft")
    arch, _ = proj.project({n: w.detach() for n, w in weights.items()}, Architecture.from_dict(state["arch"]), 8)
    if sparsity == "unstructured":
        masks = dict(proj.masks)
        info = {
            "budget": float(budget),
            "arch_cost": proj.cost(arch),
            "kept_weights": sum(int(m.sum()) for m in masks.values()),
        }
        return MethodResult(net, arch, info, masks=masks)
    if proj.cost(arch) > proj.budget:  # only for costs that are not sums over layers
        set_gates(net, arch)
        arch = repair(net, arch, ctx.cost, ctx.target, proj.budget)
    info = {"budget": float(budget), "arch_cost": proj.cost(arch)}
    return MethodResult(net, arch, info)
