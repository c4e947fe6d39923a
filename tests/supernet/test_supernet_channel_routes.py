"""Channel shuffles, chunks, squeeze-excitation and stochastic depth are followed channel by channel:
a pruned channel disappears from exactly the consumers it reaches, and the materialized network
computes what the supernet computes with hard gates."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

from supernet import discretize, materialize, to_supernet
from supernet.materialize import ChannelRoute


def _view_shuffle(x: torch.Tensor) -> torch.Tensor:  # torchvision's ShuffleNetV2 form
    n, c, h, w = x.size()
    return torch.transpose(x.view(n, 2, c // 2, h, w), 1, 2).contiguous().view(n, c, h, w)


def _reshape_shuffle(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.size()
    return x.reshape(n, 2, c // 2, h, w).permute(0, 2, 1, 3, 4).flatten(1, 2)


SHUFFLES = {
    "view-transpose-view": _view_shuffle,
    "reshape-permute-flatten": _reshape_shuffle,
    "torch.channel_shuffle": lambda x: torch.channel_shuffle(x, 2),
}


class Shuffled(nn.Module):
    """a (4 ch) and b (4 ch) concatenated and shuffled in 2 groups -> a0 b0 a1 b1 a2 b2 a3 b3; `full` reads all
    eight, `first` the first half (a0 b0 a1 b1), `second` the second half (a2 b2 a3 b3)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.module_shuffle = nn.ChannelShuffle(2) if kind == "nn.ChannelShuffle" else None
        self.kind = kind
        self.full = nn.Conv2d(8, 3, 1)
        self.first = nn.Conv2d(4, 3, 1)
        self.second = nn.Conv2d(4, 3, 1)
        self.fc = nn.Linear(9, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], dim=1)
        y = self.module_shuffle(y) if self.module_shuffle is not None else SHUFFLES[self.kind](y)
        left, right = y.chunk(2, dim=1)
        z = torch.cat([self.full(y), self.first(left), self.second(right)], dim=1)
        return self.fc(F.adaptive_avg_pool2d(F.relu(z), 1).flatten(1))


@pytest.mark.parametrize("kind", [*SHUFFLES, "nn.ChannelShuffle"])
def test_a_pruned_shuffle_channel_leaves_exactly_its_consumers(kind: str) -> None:
    x = torch.randn(4, 3, 6, 6)
    net = to_supernet(Shuffled(kind).eval(), x, quantize_activations=False, strict=True).eval()
    a, b = net.info.layers["a"].group, net.info.layers["b"].group
    assert net.info.layers["full"].in_flow.entries == ((a, 0), (b, 0), (a, 1), (b, 1), (a, 2), (b, 2), (a, 3), (b, 3))
    assert net.info.layers["first"].in_flow.entries == ((a, 0), (b, 0), (a, 1), (b, 1))
    assert net.info.layers["second"].in_flow.entries == ((a, 2), (b, 2), (a, 3), (b, 3))
    assert net.report() == [] and 0 in net.layer("a").gates.options
    net.layer("a").gates.set_choice([8, 0, 4, 8])  # a1: position 2 of `full`, position 2 of `first`
    net.layer("b").gates.set_choice([2, 8, 8, 0])  # b3: position 7 of `full`, position 3 of `second`
    net.set_sampling("hard")
    small = materialize(net, discretize(net)).eval()
    w = {n: net.layer(n).weight.detach() for n in ("full", "first", "second")}
    assert torch.equal(small.full.weight, w["full"][:, [0, 1, 3, 4, 5, 6]])
    assert torch.equal(small.first.weight, w["first"][:, [0, 1, 3]])
    assert torch.equal(small.second.weight, w["second"][:, [0, 1, 2]])
    assert any(isinstance(m, ChannelRoute) for m in small.modules())
    with torch.no_grad():
        assert (net(x) - small(x)).abs().max().item() < 1e-5


class SqueezeExcite(nn.Module):
    """conv -> x * sigmoid(fc2(relu(fc1(pool(x))))) -> stochastic depth + dropout -> residual add -> fc."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.conv = nn.Conv2d(6, 6, 3, padding=1)
        self.fc1 = nn.Conv2d(6, 2, 1)
        self.fc2 = nn.Conv2d(2, 6, 1)
        self.project = nn.Conv2d(6, 6, 1)
        self.drop = nn.Dropout2d(0.2)
        self.depth = StochasticDepth(0.2, "row")
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.relu(self.stem(x))
        y = F.relu(self.conv(s))
        y = y * torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(y, 1)))))
        y = s + self.depth(self.drop(self.project(y)))
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))


def test_squeeze_excitation_branch_follows_the_channels_it_scales() -> None:
    x = torch.randn(4, 3, 8, 8)
    net = to_supernet(SqueezeExcite().eval(), x, quantize_activations=False, strict=True).eval()
    assert net.layer("fc2").gates is net.layer("conv").gates  # fc2's channel c scales conv's channel c
    assert net.layer("project").gates is net.layer("stem").gates  # through dropout and stochastic depth
    assert all(0 in net.layer(n).gates.options for n in ("stem", "conv", "fc1"))
    assert net.report() == []
    net.layer("conv").gates.set_choice([8, 0, 2, 0, 4, 8])
    net.layer("stem").gates.set_choice([0, 8, 8, 4, 8, 2])
    net.set_sampling("hard")
    small = materialize(net, discretize(net)).eval()
    assert small.fc2.weight.shape[0] == 4 and small.fc1.weight.shape[1] == 4 and small.project.weight.shape[1] == 4
    with torch.no_grad():
        assert (net(x) - small(x)).abs().max().item() < 1e-5


def test_a_sigmoid_that_feeds_a_layer_keeps_its_channels() -> None:
    """sigmoid(0) = 0.5: a pruned channel would not vanish, so the producer keeps its channels, and says why."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.Sigmoid(), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2)
    )
    net = to_supernet(model, torch.randn(2, 3, 8, 8), strict=True)
    assert 0 not in net.layer("0").gates.options and 0 in net.layer("2").gates.options
    assert net.report() == [
        {"layer": "0", "reason": "module '1' (Sigmoid) (a pruned channel would not stay zero) reaches layer '2'"}
    ]
