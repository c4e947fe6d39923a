"""The unstructured V-step of `admm` (sparsity = "unstructured"): seed 003's ||W||_0 as it is written.

Seed 003 (Yang et al., CVPR 2020) constrains sum_i b(W_i) * ||W_i||_0 <= B, where ||W_i||_0 counts
single non-zero weights. Here each layer l is one knapsack item whose options are pairs (b, k):
every bit-width b >= 2 the target stores (a 1-bit field has no zero, so it cannot be sparse) and
k non-zero weights on a grid of K_LEVELS fractions of the layer's n_l weights (k = ceil(n_l j / 64),
j = 1..64). For Z = W + U the nearest V with that option keeps the k entries with the largest
gain z^2 - (Q_b(z) - z)^2 at their b-bit value Q_b(z) (per-channel grid, supernet.quant) and
zeroes the rest: error ||Z||^2 - (sum of the k largest gains). No channel is removed, so a layer's
size does not depend on the others' choices and the knapsack is exact (no linearisation).

Size of an option: the run's cost must be `size_sparse` (bytes of bitmask + packed non-zeros, or
dense when that is smaller: cost_models/size_sparse.py), evaluated exactly on the option, so the
projection's architecture + masks fit the budget in exported bytes. The result is an Architecture
with every channel at its layer's b plus element masks (MethodResult.masks): the fine-tune keeps
masked weights at 0, and weights that quantize to 0 only lower the final byte count.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

import cost_models
from search.context import RunContext
from search.methods.knapsack import knapsack
from search.pricing import layer_choices
from supernet import Architecture, Supernet
from supernet.quant import quantize_weight

K_LEVELS = 64


class UnstructuredProjection:
    """V-step over (bit-width, non-zeros) per layer; same interface as admm.Projection."""

    def __init__(self, net: Supernet, ctx: RunContext, bits: tuple[int, ...], budget: float) -> None:
        if not bits:
            raise ValueError("sparsity = unstructured needs bit-widths >= 2 (a 1-bit weight cannot be zero)")
        self.net, self.ctx, self.bits, self.budget = net, ctx, bits, budget
        self.names = net.layer_names
        self.numel = {n: net.layer(n).weight.numel() for n in self.names}
        self.options = {
            n: [(b, math.ceil(self.numel[n] * j / K_LEVELS)) for b in bits for j in range(1, K_LEVELS + 1)]
            for n in self.names
        }
        self.masks: dict[str, Tensor] = {n: torch.ones_like(net.layer(n).weight, dtype=torch.bool) for n in self.names}
        self.full = self.arch({n: max(bits) for n in self.names})
        self._full_choices = {c.spec.name: c for c in layer_choices(net, self.full)}
        self.sizes = [np.array([self.option_cost(n, b, k) for b, k in self.options[n]]) for n in self.names]

    def arch(self, bits: dict[str, int]) -> Architecture:
        weight_bits = {n: (bits[n],) * self.net.specs[n].out_channels for n in self.names}
        acts = {n: max(self.net.layer(n).act.options) for n in self.names}
        meta = {
            "method": "admm-unstructured",
            "sparsity": "unstructured",
            "budget": self.budget,
            "target": self.ctx.target.name,
            "model": self.ctx.cfg.model,
        }
        return Architecture(weight_bits, acts, meta)

    def option_cost(self, name: str, bits: int, nonzeros: int) -> float:
        """Exact cost of layer `name` at `bits` with `nonzeros` non-zero weights (spread evenly: the sum counts)."""
        choice = self._full_choices[name]
        c_out = choice.spec.out_channels
        probs = torch.ones(1, c_out, dtype=choice.weight_probs.dtype)
        per = torch.full((c_out,), float(nonzeros // c_out), dtype=torch.float64)
        per[: nonzeros % c_out] += 1.0  # integers summing to `nonzeros` exactly
        one = replace(choice, weight_bits=(bits,), weight_probs=probs, nonzeros=per)
        return float(cost_models.evaluate(self.ctx.cost, [one], self.ctx.target))

    def cost(self, arch: Architecture) -> float:
        """Exact cost of `arch` with the current masks' non-zeros (quantization zeros not counted)."""
        choices = []
        for c in layer_choices(self.net, arch):
            nnz = self.masks[c.spec.name].flatten(1).sum(1).double()
            choices.append(replace(c, nonzeros=nnz))
        with torch.no_grad():
            return float(cost_models.evaluate(self.ctx.cost, choices, self.ctx.target))

    @torch.no_grad()
    def project(self, z: dict[str, Tensor], around: Architecture | None = None, rounds: int = 1):
        """(architecture, V): the least ||V - Z||^2 within the budget; sets self.masks."""
        errs, gains_by = [], {}
        for n in self.names:
            norm2 = float(z[n].pow(2).sum())
            row = []
            for b in self.bits:
                gain = (z[n].pow(2) - (quantize_weight(z[n], b) - z[n]).pow(2)).flatten()
                order = gain.argsort(descending=True)
                cum = torch.cat([gain.new_zeros(1), gain[order].cumsum(0)])
                gains_by[(n, b)] = order
                row += [norm2 - float(cum[k]) for bb, k in self.options[n] if bb == b]
            errs.append(np.array(row))
        picks = knapsack(errs, self.sizes, self.budget)
        bits, v = {}, {}
        for n, j in zip(self.names, picks, strict=True):
            b, k = self.options[n][j]
            keep = torch.zeros(self.numel[n], dtype=torch.bool)
            keep[gains_by[(n, b)][:k]] = True
            self.masks[n] = keep.reshape(z[n].shape)
            bits[n] = b
            v[n] = quantize_weight(z[n], b).detach() * self.masks[n].to(z[n].dtype)
        return self.arch(bits), v
