"""Seed 002: TwoNN intrinsic dimension picks "significant" layers for a hybrid-precision net.

TwoNN (Facco, d'Errico, Rodriguez, Laio, "Estimating the intrinsic dimension of datasets by a
minimal neighborhood information", Sci. Rep. 7, 2017): for every point the ratio mu = r2 / r1 of
its second to first nearest-neighbour distance follows a Pareto law with CDF F(mu) = 1 - mu^-d,
so -log(1 - F(mu)) = d * log(mu): a line through the origin whose slope is the dimension d. The
empirical CDF is F(mu_(i)) = i / N over the sorted ratios; the largest 10% are discarded (the
paper's recommendation: they come from regions where the density is not locally constant).

Seed 002 (thesis, section 3.3.2) applies it to every layer's output flattened to O*W*H on a
mini-batch: layer l is *significant* when |ID_l - ID_(l-1)| > Delta (ID_0: the input), significant
layers get 2-bit weights, the others are binary (1 bit, sign * mean|W| per channel, XNOR-Net
style), and the first and last layers stay at "full precision" -- 8 bits here, since a
microcontroller deployment stores integers. The quantization-aware training that follows is the
fine-tune every run does.

twonn          that hybrid-precision design                     knobs: delta (or delta_frac), id_samples;
               the thesis' recipe: activations = "thesis" (clip [-1, 1] at the layer's precision, sign
               for binary), first_last = "float", retrain = "scratch" (search/methods/twonn_recipe.py)
twonn-cluster  seed 002's pipeline: every layer k-means weight-shared (16 centroids), centroids
               trained (cluster-preserving QAT) on significant layers, frozen on the others
               (search/methods/clustering.py)        knobs: delta (or delta_frac), id_samples, clusters, codebook_bits
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from search.context import RunContext
from search.methods import MethodOptions, MethodResult, register_method, require
from search.methods import twonn_recipe as recipe
from search.methods.common import build_supernet, layer_arch, layer_outputs, round_up_bits, storable_bits
from search.methods.twonn_recipe import Activations, FirstLast, Retrain


@dataclass(frozen=True)
class TwonnAnalysisOptions(MethodOptions):
    """What picks the significant layers (twonn and twonn-cluster).

    Seed 002 uses Delta = 20 on QuantNet/CIFAR-10, whose largest layer ID is ~52 (table 4.5): Delta is
    0.4 of the largest ID. Small nets have small IDs (digits_cnn on 8x8 digits: ~5..9), where an
    absolute 20 could never be exceeded, so without an explicit `delta` the threshold is
    `delta_frac` (0.4, the seed's ratio) times the largest ID of the network."""

    id_samples: int = 512  # training inputs the IDs are measured on
    delta: float | None = None
    delta_frac: float = 0.4

    def __post_init__(self) -> None:
        require(self.id_samples >= 3, "id_samples must be >= 3 (TwoNN needs three points)", self.id_samples)
        require(self.delta is None or self.delta >= 0, "delta must be >= 0", self.delta)
        require(self.delta_frac >= 0, "delta_frac must be >= 0", self.delta_frac)


@dataclass(frozen=True)
class TwonnOptions(TwonnAnalysisOptions):
    """The analysis, and seed 002's training recipe (search/methods/twonn_recipe.py)."""

    activations: Activations = "pact"
    first_last: FirstLast = "int8"
    retrain: Retrain = "finetune"


def twonn_dimension(points: Tensor, discard: float = 0.1) -> float:
    """TwoNN intrinsic dimension of `points` (N, ...), each row flattened to one vector.

    Duplicate points are merged first (r1 = 0 would make mu infinite); the fit is least squares
    through the origin.
    """
    x = torch.unique(points.reshape(len(points), -1).double(), dim=0)
    if len(x) < 3:  # one point (a dead layer): dimension 0; two: nothing to fit
        return 0.0
    dist = torch.cdist(x, x)
    dist.fill_diagonal_(math.inf)
    r = dist.topk(2, dim=1, largest=False).values
    mu = (r[:, 1] / r[:, 0]).sort().values
    n = len(mu)
    m = max(int(math.floor(n * (1.0 - discard))), 2)
    ecdf = torch.arange(1, n + 1, dtype=torch.float64) / n
    lx, ly = mu[:m].log(), -torch.log1p(-ecdf[:m])
    return float((lx * ly).sum() / (lx * lx).sum().clamp_min(1e-300))


def layer_dimensions(model: nn.Module, names: list[str], x: Tensor) -> dict[str, float]:
    """ID of the input ("input") and of every named layer's output on the batch `x`."""
    outs = layer_outputs(model, names, x)
    return {"input": twonn_dimension(x), **{n: twonn_dimension(outs[n]) for n in names}}


def significant_layers(ids: dict[str, float], names: list[str], delta: float) -> dict[str, bool]:
    """|ID_l - ID_(l-1)| > delta, with ID_0 the input's, layers in network order."""
    prev, out = ids["input"], {}
    for n in names:
        out[n] = abs(ids[n] - prev) > delta
        prev = ids[n]
    return out


def twonn_analysis(
    model: nn.Module, ctx: RunContext, names: list[str], opts: TwonnAnalysisOptions
) -> tuple[dict[str, float], float, dict[str, bool]]:
    """(IDs, the Delta used, significance) of the layers `names` on the first id_samples training inputs."""
    x = ctx.data.train.batch(slice(0, opts.id_samples))[0]
    ids = layer_dimensions(model, names, x)
    delta = opts.delta if opts.delta is not None else opts.delta_frac * max(ids.values())
    return ids, float(delta), significant_layers(ids, names, float(delta))


def hybrid_bits(names: list[str], significant: dict[str, bool], available: tuple[int, ...]) -> dict[str, int]:
    """First and last layer 8 bits, significant layers 2, the rest 1 (rounded up to what the target stores)."""
    bits = {n: 2 if significant[n] else 1 for n in names}
    bits[names[0]] = bits[names[-1]] = 8
    return {n: round_up_bits(b, available) for n, b in bits.items()}


@register_method("twonn", options=TwonnOptions, reads_strength=False, knob="delta_frac", style=6, storable_widths=True)
def twonn(model: nn.Module, ctx: RunContext) -> MethodResult:
    opts = TwonnOptions.from_config(ctx.cfg)
    x = ctx.data.train.batch(slice(0, 512))[0]
    available = storable_bits(ctx)
    net = build_supernet(model, x, ctx, bits=available, act_bits=ctx.cfg.act_bits[-1:])
    names = net.layer_names
    ids, delta, significant = twonn_analysis(model, ctx, names, opts)
    bits = hybrid_bits(names, significant, available)
    meta = {
        "method": "twonn",
        "target": ctx.target.name,
        "model": ctx.cfg.model,
        "intrinsic_dimension": ids,
        "delta": delta,
        "significant": [n for n in names if significant[n]],
    }
    activations, first_last, retrain = opts.activations, opts.first_last, opts.retrain
    suffix = [w for w, default in ((activations, "pact"), (first_last, "int8"), (retrain, "finetune")) if w != default]
    meta.update(method="-".join(["twonn", *suffix]), activations=activations, first_last=first_last, retrain=retrain)
    arch = layer_arch(net, bits, meta)
    info = {"delta": delta, "significant_layers": sum(significant.values()), **{f"id_{k}": v for k, v in ids.items()}}
    if (activations, first_last, retrain) == ("pact", "int8", "finetune"):
        return MethodResult(net, arch, info)
    extra = recipe.float_extra_costs(net, arch, [names[0], names[-1]]) if first_last == "float" else {}

    def build() -> nn.Module:
        return recipe.build_hybrid(net, arch, ctx, activations, first_last, retrain)

    return MethodResult(net, arch, info, build=build, extra_costs=extra)
