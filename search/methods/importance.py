"""Seed 000: layer importance drives per-layer bit-widths (1..8) and pruning under accuracy margins.

The poster ("adaptive layer-wise quantization and pruning", seed 000) scores every layer l by

  Imp(l) = w_p * N_p(l) + w_e * N_e(l) + w_v * N_v(l) + w_s * S(l),   w_p = w_e = w_v = w_s = 1/4

  N_p(l) = parameters in layer l / total parameters in the model
  N_e(l) = ln(e - 1 + H(l) / b)      H(l): entropy (bits) of layer l's weights at the model's
                                     bit-precision b (8), so H/b is in [0, 1] and N_e in [ln(e-1), 1]
  N_v(l) = Var(W_l) / max_k Var(W_k)
  S(l)   = zero or near-zero activations of layer l / all its activations (on a calibration batch)

and lets each layer lose at most T_margin(l) = T_margin * Imp(l) accuracy ("performance
threshold"). As printed, the more important a layer, the larger its margin: the score favours
layers that are large (N_p), spread out (N_e, N_v) and sparse (S), i.e. where compression pays
most and hurts least. We follow the poster as printed.

Search, layer by layer in network order, each trial one validation pass of the materialized
network (the function of the supernet with hard gates on that architecture, at the cost of one
quantizer per channel instead of one per option): lower the layer's bit-width (8, 7, ... 1, as
far as the target can store them) while the accuracy stays within T_margin(l) of the accuracy
before this layer's turn, then, with what is left of the same margin, prune. The total accuracy
loss before fine-tuning is at most T_margin * sum_l Imp(l); the fine-tune of every run is the QAT
that follows.

variant (the poster reports all three):
  quant   bit-widths only, nothing pruned
  prune   pruning only, every layer at the top bit-width
  both    bit-widths, then pruning (default)

pruning (how a threshold k, in sigmas, prunes):
  ksigma   the poster's thresholds: the weights of layer l with |w| < k * sigma_l (sigma_l: the
           standard deviation of its weights) are removed one by one, k tried from 3 ("99.7%", the
           share of a Gaussian within 3 sigma) down to 0 (no pruning) in steps of 0.25, the first k
           within the margin kept. The layer becomes sparse (element masks, stored as bitmask +
           non-zeros; priced by `size_sparse`); a 1-bit layer has no zero level and is not pruned.
  channel  bitgate's structured stand-in (default, what the `size` cost and the C kernels see):
           a layer prunes the fraction erf(k / sqrt 2) of its output channels with the smallest
           weight norm (folded through BatchNorm), k = 0.25, 0.5, ... 3, stopping at the first k
           that breaks the margin. Layers meeting at a residual add share their pruned channels,
           chosen at the turn of the group's last layer (they keep their own bit-widths).

Training recipe of the poster: SGD lr 0.02, batch 128, 100 epochs from scratch on CIFAR-10 with
random crop + flip (config: optimizer = "sgd", lr = 0.02, batch_size = 128, warmup_epochs = 100,
models vgg19 / resnet18 / resnet34; the optimizer keys come with the search-quality issue #10).

Knobs (method_options, ImportanceOptions): variant, pruning, t_margin (accuracy fraction), sparsity_eps
(near-zero = |a| <= eps * max|a| of the layer), model_bits (b in N_e).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from search.context import RunContext
from search.methods import MethodOptions, MethodResult, register_method, require
from search.methods.common import arch_accuracy, build_supernet, layer_arch, layer_outputs, storable_bits
from search.methods.differentiable import calibration_batch
from search.methods.sparsity import masked_network
from search.train import evaluate
from supernet import Supernet

K_GRID = tuple(0.25 * i for i in range(1, 13))  # pruning thresholds k = 0.25 .. 3 (sigmas)


def weight_entropy(w: Tensor, bits: int = 8) -> float:
    """Shannon entropy (bits) of the weights on a symmetric `bits`-bit grid over the layer (<= bits)."""
    w = w.detach().flatten().double()
    step = w.abs().max().clamp_min(1e-12) / (2 ** (bits - 1) - 1)
    _, counts = torch.unique(torch.round(w / step), return_counts=True)
    p = counts.double() / len(w)
    return float(-(p * p.log2()).sum())


def activation_sparsity(a: Tensor, eps: float = 0.01) -> float:
    """Fraction of activations with |a| <= eps * max|a| (exact zeros after a ReLU count)."""
    a = a.detach().abs()
    return float((a <= eps * a.max()).double().mean())


def importance_scores(
    model: nn.Module, names: list[str], x: Tensor, model_bits: int = 8, eps: float = 0.01
) -> dict[str, dict[str, float]]:
    """{layer: {N_p, N_e, N_v, S, importance}} for the named Conv/Linear layers of `model` (seed 000)."""
    total = sum(p.numel() for p in model.parameters())
    mods = {n: model.get_submodule(n) for n in names}
    var = {n: float(m.weight.detach().double().var()) for n, m in mods.items()}
    acts = layer_outputs(model, names, x)
    out = {}
    for n, m in mods.items():
        params = m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
        s = {
            "N_p": params / total,
            "N_e": math.log(math.e - 1 + weight_entropy(m.weight, model_bits) / model_bits),
            "N_v": var[n] / max(var.values()),
            "S": activation_sparsity(acts[n], eps),
        }
        s["importance"] = 0.25 * (s["N_p"] + s["N_e"] + s["N_v"] + s["S"])
        out[n] = s
    return out


def channel_magnitude(net: Supernet, layers: list[str]) -> Tensor:
    """Per output channel, the L2 norm of its weights times |gamma| / sqrt(var + eps) of a following
    BatchNorm (what the channel contributes), each layer normalised by its mean, summed over `layers`."""
    total = None
    for name in layers:
        layer = net.layer(name)
        norm = layer.weight.detach().flatten(1).norm(dim=1)
        if layer.bn is not None:
            bn = layer.bn
            gamma = bn.weight.detach().abs() if bn.weight is not None else torch.ones_like(norm)
            norm = norm * gamma / torch.sqrt(bn.running_var + bn.eps)
        norm = norm / norm.mean().clamp_min(1e-12)
        total = norm if total is None else total + norm
    return total


def ksigma_mask(weight: Tensor, k: float) -> Tensor:
    """Keep-mask of seed 000's threshold: weights with |w| < k * std(W) are pruned (k = 0: none)."""
    w = weight.detach()
    return w.abs() >= k * w.double().std().float()


KSIGMA_GRID = tuple(0.25 * i for i in range(12, 0, -1))  # 3.0, 2.75, ... 0.25 (then 0: no pruning)


@dataclass(frozen=True)
class ImportanceOptions(MethodOptions):
    t_margin: float = 0.05  # the accuracy a layer may cost, as a fraction, times its importance
    model_bits: int = 8  # b of the entropy term N_e
    sparsity_eps: float = 0.01  # near-zero activations: |a| <= eps * max|a| of the layer
    variant: Literal["both", "quant", "prune"] = "both"
    pruning: Literal["channel", "ksigma"] = "channel"

    def __post_init__(self) -> None:
        require(self.t_margin >= 0, "t_margin must be >= 0", self.t_margin)
        require(1 <= self.model_bits <= 32, "model_bits must be in 1..32", self.model_bits)
        require(self.sparsity_eps >= 0, "sparsity_eps must be >= 0", self.sparsity_eps)


@register_method(
    "importance", options=ImportanceOptions, reads_strength=False, knob="t_margin", style=5, storable_widths=True
)
def importance(model: nn.Module, ctx: RunContext) -> MethodResult:
    opts = ImportanceOptions.from_config(ctx.cfg)
    t_margin, model_bits, variant, pruning = opts.t_margin, opts.model_bits, opts.variant, opts.pruning
    x = calibration_batch(ctx)
    available = storable_bits(ctx)
    net = build_supernet(model, x, ctx, bits=(0, *available), act_bits=ctx.cfg.act_bits[-1:])
    scores = importance_scores(model, net.layer_names, x, model_bits, opts.sparsity_eps)
    groups = [[n for n in net.layer_names if net.layer(n).gates is g] for g in net.weight_gates()]
    last_of_group = {layers[-1]: layers for layers in groups}
    bits = {n: max(available) for n in net.layer_names}
    pruned: dict[str, list[int]] = {}
    masks: dict[str, Tensor] = {}
    label = "importance" + ("" if variant == "both" else f"-{variant}") + ("-ksigma" if pruning == "ksigma" else "")
    meta = {
        "method": label,
        "target": ctx.target.name,
        "model": ctx.cfg.model,
        "t_margin": t_margin,
        "variant": variant,
        "pruning": pruning,
        "importance": scores,
    }
    trials = 0

    def accuracy(b: dict[str, int], p: dict[str, list[int]], m: dict[str, Tensor]) -> float:
        nonlocal trials
        trials += 1
        arch = layer_arch(net, b, meta, p)
        return evaluate(masked_network(net, arch, m), ctx.data.val) if m else arch_accuracy(net, arch, ctx)

    reference = current = accuracy(bits, pruned, masks)
    for i, name in enumerate(net.layer_names):
        margin = t_margin * scores[name]["importance"]
        base = current
        for b in sorted((b for b in available if b < bits[name] and variant != "prune"), reverse=True):
            acc = accuracy({**bits, name: b}, pruned, masks)
            if base - acc > margin:
                break
            bits[name], current = b, acc
        ks = None
        if variant != "quant" and pruning == "ksigma" and bits[name] > 1:
            for k in KSIGMA_GRID:  # the most aggressive threshold that stays within the margin
                trial = {**masks, name: ksigma_mask(net.layer(name).weight, k)}
                acc = accuracy(bits, pruned, trial)
                if base - acc <= margin:
                    masks, current, ks = trial, acc, k
                    break
        group = last_of_group.get(name)  # a residual group is pruned at its last layer's turn
        if variant != "quant" and pruning == "channel" and group is not None and net.layer(name).gates.prunable:
            order = channel_magnitude(net, group).argsort().tolist()
            for k in K_GRID:
                n_prune = min(int(math.erf(k / math.sqrt(2)) * len(order)), len(order) - 1)
                if n_prune == len(pruned.get(name, [])):
                    continue
                trial = {**pruned, **{n: sorted(order[:n_prune]) for n in group}}
                acc = accuracy(bits, trial, masks)
                if base - acc > margin:
                    break
                pruned, current = trial, acc
        kept = float(masks[name].double().mean()) if name in masks else 1.0
        row = {
            "layer": name,
            "importance": scores[name]["importance"],
            "margin": margin,
            "bits": bits[name],
            "pruned": len(pruned.get(name, [])),
            "k_sigma": ks if ks is not None else 0.0,
            "kept_weights": kept,
            "val_acc": current,
        }
        ctx.history.log("importance", i, row)
    arch = layer_arch(net, bits, meta, pruned)
    info = {"reference_val_acc": reference, "search_val_acc": current, "trials": trials}
    return MethodResult(net, arch, info, masks=masks)
