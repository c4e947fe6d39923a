"""k-means weight sharing and cluster-preserving QAT (seed 002's clustering pipeline)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from search.methods.clustering import ClusteredLayer, cluster_network, codebook_costs, kmeans_1d
from supernet import Architecture, materialize, to_supernet
from supernet.fixed import FixedLayer
from zoo.models import create_model


def _net_and_small():
    torch.manual_seed(0)
    net = to_supernet(create_model("digits_cnn", 4, (1, 8, 8)), torch.randn(32, 1, 8, 8), bits=(4, 8))
    arch = Architecture({n: (4,) * s.out_channels for n, s in net.specs.items()}, {n: 8 for n in net.specs})
    return net, materialize(net, arch)


def test_kmeans_1d_sorted_centroids_and_nearest_assignment():
    values = torch.cat([torch.full((10,), -1.0), torch.full((5,), 0.5), torch.full((7,), 2.0)]).reshape(2, 11)
    centroids, index = kmeans_1d(values, 3)
    assert torch.allclose(centroids, torch.tensor([-1.0, 0.5, 2.0]))
    assert torch.equal(centroids[index], values)


@pytest.mark.parametrize("codebook_bits", [8, 32])
def test_cluster_preserving_qat_keeps_k_values_per_layer(codebook_bits):
    net, small = _net_and_small()
    names = net.layer_names
    trainable = {n: i % 2 == 0 for i, n in enumerate(names)}
    small = cluster_network(small, trainable, clusters=16, codebook_bits=codebook_bits, seed=0)
    frozen = {n: small.get_submodule(n).codebook.detach().clone() for n in names if not trainable[n]}
    before = {n: small.get_submodule(n).quantized_weight().detach().clone() for n in names}
    opt = torch.optim.Adam(small.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        x, y = torch.randn(32, 1, 8, 8, generator=g), torch.randint(0, 4, (32,), generator=g)
        opt.zero_grad()
        F.cross_entropy(small(x), y).backward()
        opt.step()
    for n in names:
        layer = small.get_submodule(n)
        assert isinstance(layer, ClusteredLayer)
        w = layer.quantized_weight().detach()
        distinct = w.unique().numel()
        assert distinct == 16 if codebook_bits == 32 else 14 <= distinct <= 16, n  # int8 may merge neighbours
        if trainable[n]:
            assert not torch.equal(w, before[n])  # centroids moved...
        else:
            assert torch.equal(layer.codebook, frozen[n])  # ...or stayed, on the others
        assert torch.equal(w.unique(), layer.codebook_values().detach().unique())  # weights = codebook entries


def test_centroid_gradient_is_the_sum_of_its_weights_gradients():
    _, small = _net_and_small()
    fixed = small.get_submodule("fc")
    assert isinstance(fixed, FixedLayer)
    layer = ClusteredLayer(fixed, clusters=4, codebook_bits=32, trainable=True)
    w = layer.quantized_weight()
    grad_w = torch.randn_like(w)
    (w * grad_w).sum().backward()
    expected = torch.zeros(4).index_add_(0, layer.index.flatten(), grad_w.flatten())
    assert torch.allclose(layer.codebook.grad, expected)


def test_codebook_costs():
    assert codebook_costs(4, 16, 8) == {"size": 64, "memory": 64, "size_bits": 512}
    assert codebook_costs(3, 16, 32) == {"size": 192, "memory": 192, "size_bits": 1536}
