"""Seed 002's clustering pipeline: k-means weight sharing and cluster-preserving QAT (twonn-cluster).

Weight clustering (Han et al. 2015, "Deep Compression"): the weights of a layer are replaced by
the nearest of k centroids (k-means over the layer's weight values), so the layer stores a
log2(k)-bit index per weight plus a codebook of k values. Seed 002 (thesis, section 4.2.3)
finds k = 16 the best trade-off, and shows that plain QAT after clustering destroys the sharing
(table 4.8: 864 .. 361,277 unique values per layer) while *cluster-preserving* QAT keeps k
unique values per layer. Here a clustered layer computes its weight as codebook[index]:
the index never changes, so the layer holds exactly k values throughout training, and the
gradient of a centroid is the sum of its weights' gradients (under Adam, which normalises each
parameter's step, this is the same as the per-cluster average).

Pipeline (seed 002, section 3.4): TwoNN marks significant layers (search/methods/twonn.py);
every layer is clustered; significant layers (and the first and last, which seed 002 keeps at
full precision) get trained centroids, the others keep their k-means centroids ("vanilla"
clustering). Biases, BatchNorm and activation clips stay trainable, as in any fine-tune.

Storage, and what metrics.json reports: arch.json gives every channel log2(k) bits -- the
packed indices, priced by the ordinary cost models -- and the codebooks (k values of
`codebook_bits` bits per layer) are added to "size", "memory" (bytes) and "size_bits" (bits)
through MethodResult.extra_costs. codebook_bits = 32 (default): float32 centroids, as seed 002's
TensorFlow clustering stores them, and exactly k distinct values per layer. codebook_bits = 8:
int8 centroids on a per-layer grid, fake-quantized in training so that what is trained is what
would be stored; two centroids closer than one grid step then share a value (<= k distinct).
arch.json's meta records the codebook, so the total can be recomputed from arch.json alone:
cost(arch) + meta["codebook"]["bytes"].
BitOPs and latencies are those of log2(k)-bit kernels, which is optimistic: a device would look
weights up in the codebook and multiply at the codebook's precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from search.context import RunContext
from search.methods import MethodResult, register_method, require
from search.methods.common import build_supernet, layer_arch, round_up_bits, storable_bits
from search.methods.twonn import TwonnAnalysisOptions, twonn_analysis
from supernet import materialize
from supernet.fixed import FixedLayer
from supernet.quant import quantize_weight


@dataclass(frozen=True)
class ClusterOptions(TwonnAnalysisOptions):
    """TwoNN's analysis (which layers train their centroids), and the codebooks."""

    clusters: int = 16  # seed 002's best trade-off (section 4.2.3)
    codebook_bits: int = 32  # float32 centroids, as seed 002's TensorFlow clustering stores them

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.clusters >= 2, "clusters must be >= 2", self.clusters)
        require(self.codebook_bits in (8, 16, 32), "codebook_bits must be 8, 16 or 32", self.codebook_bits)


def kmeans_1d(values: Tensor, k: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """k-means on scalar values (sklearn, k-means++ init): (sorted centroids (k,), index of each value)."""
    from sklearn.cluster import KMeans

    flat = values.detach().reshape(-1, 1).double().cpu().numpy()
    if len(np.unique(flat)) < k:
        raise ValueError(f"cannot form {k} clusters from {len(np.unique(flat))} distinct weight values")
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(flat)
    order = np.argsort(km.cluster_centers_[:, 0])
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    centroids = torch.tensor(km.cluster_centers_[order, 0], dtype=values.dtype, device=values.device)
    index = torch.from_numpy(rank[km.labels_]).reshape(values.shape).to(values.device)
    return centroids, index


class ClusteredLayer(FixedLayer):
    """A FixedLayer whose weight is codebook[index]: k shared values, trained or frozen."""

    def __init__(self, fixed: FixedLayer, clusters: int, codebook_bits: int, trainable: bool, seed: int = 0) -> None:
        index_bits = max(1, math.ceil(math.log2(clusters)))
        super().__init__(fixed.op, fixed.weight, fixed.bias, [index_bits] * fixed.weight.shape[0], fixed.act, fixed.bn)
        centroids, index = kmeans_1d(fixed.weight, clusters, seed)
        self.codebook = nn.Parameter(centroids, requires_grad=trainable)
        self.register_buffer("index", index)
        self.codebook_bits = codebook_bits
        self.weight.requires_grad_(False)  # only the codebook defines the weights now

    def codebook_values(self) -> Tensor:
        """The stored codebook: int8 values on a per-layer grid (straight-through), or float32."""
        if self.codebook_bits >= 32:
            return self.codebook
        return quantize_weight(self.codebook.unsqueeze(0), self.codebook_bits).squeeze(0)

    def quantized_weight(self) -> Tensor:
        return self.codebook_values()[self.index]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, clusters={len(self.codebook)}, trainable={self.codebook.requires_grad}"


def cluster_network(
    small: nn.Module, layers: dict[str, bool], clusters: int, codebook_bits: int, seed: int
) -> nn.Module:
    """Replace each FixedLayer named in `layers` by a ClusteredLayer (value: trainable centroids)."""
    for name, trainable in layers.items():
        parent, _, leaf = name.rpartition(".")
        owner = small.get_submodule(parent) if parent else small
        setattr(owner, leaf, ClusteredLayer(getattr(owner, leaf), clusters, codebook_bits, trainable, seed))
    return small


def codebook_costs(n_layers: int, clusters: int, codebook_bits: int) -> dict[str, float]:
    """What the codebooks add to the weight-storage costs, in each cost's unit."""
    bits = n_layers * clusters * codebook_bits
    return {"size": math.ceil(bits / 8), "memory": math.ceil(bits / 8), "size_bits": bits}


@register_method(
    "twonn-cluster", options=ClusterOptions, reads_strength=False, knob="clusters", style=7, storable_widths=True
)
def twonn_cluster(model: nn.Module, ctx: RunContext) -> MethodResult:
    opts = ClusterOptions.from_config(ctx.cfg)
    clusters, codebook_bits = opts.clusters, opts.codebook_bits
    available = storable_bits(ctx)
    index_bits = round_up_bits(max(1, math.ceil(math.log2(clusters))), available)
    x = ctx.data.train.batch(slice(0, 512))[0]
    net = build_supernet(model, x, ctx, bits=available, act_bits=ctx.cfg.act_bits[-1:])
    names = net.layer_names
    ids, delta, significant = twonn_analysis(model, ctx, names, opts)
    trainable = {n: significant[n] or n in (names[0], names[-1]) for n in names}
    extra = codebook_costs(len(names), clusters, codebook_bits)
    meta = {
        "method": "twonn-cluster",
        "target": ctx.target.name,
        "model": ctx.cfg.model,
        "intrinsic_dimension": ids,
        "delta": delta,
        "significant": [n for n in names if significant[n]],
        "codebook": {
            "clusters": clusters,
            "value_bits": codebook_bits,
            "layers": names,
            "bytes": extra["size"],
            "trained": [n for n in names if trainable[n]],
        },
    }
    arch = layer_arch(net, {n: index_bits for n in names}, meta)

    def build() -> nn.Module:
        return cluster_network(materialize(net, arch), trainable, clusters, codebook_bits, ctx.cfg.seed)

    info = {"delta": delta, "significant_layers": sum(significant.values()), "codebook_bytes": extra["size"]}
    return MethodResult(net, arch, info, build=build, extra_costs=extra)
