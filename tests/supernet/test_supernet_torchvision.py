"""torchvision families convert: EfficientNet and ShuffleNetV2 with pruning (the supernet on hard gates
equals the materialized network), ConvNeXt and ViT with bits searched where pruning cannot be followed,
and strict=True refuses those as before. Width-reduced builds of the same classes keep this fast."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import ShuffleNetV2, VisionTransformer, shufflenet_v2_x0_5
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

import cost_models
from supernet import Architecture, UnsupportedModelError, discretize, materialize, to_supernet
from targets import get_target


def efficientnet() -> nn.Module:
    setting, last = _efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)
    return EfficientNet(setting, dropout=0.2, stochastic_depth_prob=0.2, num_classes=10, last_channel=last)


def shufflenet() -> nn.Module:
    return ShuffleNetV2([2, 2, 2], [8, 16, 32, 64, 64], num_classes=10)


def convnext() -> nn.Module:
    return ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, None, 1)], stochastic_depth_prob=0.1, num_classes=10)


def vit() -> nn.Module:
    return VisionTransformer(
        image_size=16, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10
    )


def _randomize(net, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for gate in net.gates.values():
        bits = [gate.options[int(i)] for i in torch.randint(len(gate.options), (gate.channels,), generator=g)]
        if not any(bits):
            bits[0] = max(gate.options)
        gate.set_choice(bits)


@pytest.mark.parametrize("act", [False, True], ids=["float-acts", "quantized-acts"])
@pytest.mark.parametrize("build", [efficientnet, shufflenet], ids=["efficientnet_b0-w0.25", "shufflenet_v2-small"])
def test_prunable_families_convert_and_materialize_exactly(build, act: bool, random_batchnorms) -> None:
    """Tolerance of test_supernet_equivalence.py; with quantized activations a float-order difference could
    flip a rounding (see there), on these seeds none does and the outputs agree exactly."""
    torch.manual_seed(0)
    model = build().eval()
    random_batchnorms(model, torch.Generator().manual_seed(0))  # fresh BNs would leave outputs near 1e-11
    x = torch.randn(4, 3, 32, 32)
    net = to_supernet(model, x, quantize_activations=act).eval()
    prunable = [n for n in net.layer_names if 0 in net.layer(n).gates.options]
    assert len(prunable) > len(net.layer_names) // 2
    _randomize(net, seed=1)
    net.set_sampling("hard")
    arch = discretize(net)
    assert sum(len(arch.kept(n)) < len(b) for n, b in arch.weight_bits.items()) > 3  # some channels are gone
    small = materialize(net, arch).eval()
    with torch.no_grad():
        y = net(x)
        assert y.abs().max().item() > 0.1  # not a vacuous comparison of two near-zero outputs
        assert (y - small(x)).abs().max().item() < 1e-5


def test_efficientnet_has_nothing_it_cannot_follow() -> None:
    net = to_supernet(efficientnet().eval(), torch.randn(2, 3, 32, 32), strict=True)
    assert net.report() == []  # stochastic depth, dropout and squeeze-excitation are all followed


def test_shufflenet_loses_pruning_only_at_depthwise_convs_on_shuffled_channels() -> None:
    net = to_supernet(shufflenet().eval(), torch.randn(2, 3, 32, 32), strict=True)
    assert net.report()  # stride-2 blocks: a depthwise conv on a shuffle's output (channels of many groups)
    assert all("depthwise conv on channels of several groups" in r["reason"] for r in net.report())
    assert 0 in net.layer("stage4.1.branch2.5").gates.options  # its channels pass two shuffles to conv5


@pytest.mark.slow
def test_full_size_shufflenet_v2_x0_5_converts() -> None:
    x = torch.randn(2, 3, 32, 32)
    net = to_supernet(shufflenet_v2_x0_5(num_classes=10).eval(), x, quantize_activations=False).eval()
    _randomize(net, seed=0)
    net.set_sampling("hard")
    with torch.no_grad():
        assert (net(x) - materialize(net, discretize(net)).eval()(x)).abs().max().item() < 1e-5


def _size(net, bits: int) -> float:
    arch = Architecture.uniform({n: s.out_channels for n, s in net.specs.items()}, bits, 8)
    return float(cost_models.evaluate("size", net.layer_choices(arch), get_target("generic")))


@pytest.mark.parametrize(("build", "size"), [(convnext, 32), (vit, 16)], ids=["convnext", "vit"])
def test_attention_and_channels_last_models_search_bits_where_pruning_cannot_be_followed(build, size: int) -> None:
    torch.manual_seed(0)
    model = build().eval()
    x = torch.randn(2, 3, size, size)
    with pytest.raises(UnsupportedModelError, match="cannot follow pruned channels|only \\(batch, features\\)"):
        to_supernet(model, x, strict=True)
    net = to_supernet(model, x).eval()
    lost = {r["layer"] for r in net.report()}
    output = net.layer_names[-1]
    assert lost == set(net.layer_names) - {output}  # every layer reaches a permute/LayerNorm/attention
    assert all(net.layer(n).gates.options == (2, 4, 8) for n in net.layer_names)
    assert _size(net, 2) < _size(net, 8)  # the bit choice still changes the cost
    with torch.no_grad():
        assert net(x).shape == (2, 10)
    small = materialize(net, discretize(net)).eval()
    with torch.no_grad():
        assert small(x).shape == (2, 10)


class ConvThenNorm(nn.Module):
    """conv1 -> conv2 -> channels-last LayerNorm -> conv3 -> fc: only conv2's channels reach the LayerNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.norm = nn.LayerNorm(6)
        self.conv3 = nn.Conv2d(6, 5, 1)
        self.fc = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(torch.relu(self.conv1(x)))
        y = self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.fc(torch.relu(self.conv3(y)).mean((2, 3)))


def test_pruning_is_disabled_only_for_layers_whose_channels_reach_what_cannot_be_followed() -> None:
    x = torch.randn(2, 3, 8, 8)
    net = to_supernet(ConvThenNorm(), x)
    assert [r["layer"] for r in net.report()] == ["conv2"]
    assert "'permute' at node 'permute'" in net.report()[0]["reason"]
    assert [n for n in net.layer_names if 0 in net.layer(n).gates.options] == ["conv1", "conv3"]


def test_exclude_takes_module_prefixes_and_refuses_unknown_paths() -> None:
    model = efficientnet().eval()
    x = torch.randn(2, 3, 32, 32)
    net = to_supernet(model, x, exclude=["features.0", "classifier"])
    assert not any(n.startswith(("features.0.", "classifier.")) for n in net.layer_names)
    assert "features.1.0.block.0.0" in net.layer_names
    with pytest.raises(ValueError, match="exclude names 'features.99', which is not a module of EfficientNet"):
        to_supernet(model, x, exclude=["features.99"])
