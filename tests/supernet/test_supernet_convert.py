"""Conversion: zoo and torchvision models convert; channel groups follow adds, depthwise convs,
concats and flattens; layers that must keep their channels get no 0-bit option."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from supernet import calibrate, discretize, materialize, to_supernet
from supernet.layers import ActQuant
from zoo.models import create_model

SEARCHABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)


def searchable_paths(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, SEARCHABLE)]


def groups_as_sets(net) -> set[frozenset[str]]:
    return {frozenset(layers) for layers in net.groups_of_layers().values()}


def group_of(net, layer: str) -> int:
    return net.info.layers[layer].group


@pytest.mark.parametrize(
    ("name", "classes", "in_shape", "output_layer"),
    [
        ("resnet8", 10, (3, 32, 32), "fc"),
        ("dscnn", 12, (1, 49, 10), "fc"),
        ("quantnet", 2, (3, 16, 16), "fc3"),
        ("quantnet", 3, (2, 33), "fc3"),
        ("tv:resnet18", 5, (3, 32, 32), "fc"),
        ("tv:mobilenet_v2", 5, (3, 32, 32), "classifier.1"),
    ],
)
def test_zoo_models_convert(name: str, classes: int, in_shape: tuple[int, ...], output_layer: str) -> None:
    model = create_model(name, classes, in_shape).eval()
    x = torch.randn(2, *in_shape)
    net = to_supernet(model, x).eval()
    assert net.layer_names == searchable_paths(model)  # every conv/linear is searched, in graph order
    assert isinstance(model.get_submodule(output_layer), nn.Linear)  # the float model is left as it was
    with torch.no_grad():
        assert net(x).shape == (2, classes)
    assert 0 not in net.layer(output_layer).gates.options  # the output layer keeps its channels
    assert group_of(net, output_layer) in net.info.unprunable
    prunable = [g for g in net.gates.values() if g.prunable]
    assert prunable and all(g.options == (0, 2, 4, 8) for g in prunable)


def test_resnet8_dependency_groups() -> None:
    net = to_supernet(create_model("resnet8", 10, (3, 32, 32)), torch.randn(2, 3, 32, 32))
    assert groups_as_sets(net) == {
        frozenset({"conv", "stack1.conv2"}),  # stack1 adds its input (the stem) to its conv2 output
        frozenset({"stack1.conv1"}),
        frozenset({"stack2.conv1"}),
        frozenset({"stack2.conv2", "stack2.shortcut"}),
        frozenset({"stack3.conv1"}),
        frozenset({"stack3.conv2", "stack3.shortcut"}),
        frozenset({"fc"}),
    }
    assert net.info.unprunable == {group_of(net, "fc")}
    assert net.layer("conv").gates is net.layer("stack1.conv2").gates  # one set of gates per group
    assert net.layer("fc").gates.options == (2, 4, 8)
    bns = {name: layer.bn for name, layer in net.info.layers.items()}
    assert bns["conv"] == "bn" and bns["stack2.conv2"] == "stack2.bn2" and bns["stack2.shortcut"] is None


def test_dscnn_depthwise_conv_shares_its_producers_gates() -> None:
    net = to_supernet(create_model("dscnn", 12, (1, 49, 10)), torch.randn(2, 1, 49, 10))
    dw = [n for n, info in net.info.layers.items() if info.spec.depthwise]
    assert dw == ["features.3", "features.9", "features.15", "features.21"]
    for name in dw:
        producer = f"features.{int(name.split('.')[1]) - 3}"
        assert net.layer(name).gates is net.layer(producer).gates
    assert groups_as_sets(net) == {
        frozenset({"features.0", "features.3"}),
        frozenset({"features.6", "features.9"}),
        frozenset({"features.12", "features.15"}),
        frozenset({"features.18", "features.21"}),
        frozenset({"features.24"}),
        frozenset({"fc"}),
    }


def test_depthwise_conv_on_the_network_input_keeps_its_channels() -> None:
    """Its input channels cannot be dropped, so neither can its own (materialize used to crash here)."""
    model = nn.Sequential(
        nn.Conv2d(3, 3, 3, padding=1, groups=3),
        nn.ReLU(),
        nn.Conv2d(3, 4, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    x = torch.randn(2, 3, 8, 8)
    net = to_supernet(model, x).eval()
    assert 0 not in net.layer("0").gates.options and group_of(net, "0") in net.info.unprunable
    assert 0 in net.layer("2").gates.options
    net.layer("2").gates.set_choice([0, 8, 8, 0])
    net.set_sampling("hard")
    with torch.no_grad():
        assert torch.allclose(net(x), materialize(net, discretize(net)).eval()(x), atol=1e-5)


def test_concat_maps_channel_indices(tiny_model) -> None:
    model, x = tiny_model("concat")
    net = to_supernet(model, x)
    left, right = group_of(net, "left"), group_of(net, "right")
    merge = net.info.layers["merge"]
    assert merge.in_flow.segments == ((left, 0, 3), (right, 0, 4))  # (group, first channel, count)
    assert merge.spec.in_channels == 7
    net.gates[str(left)].set_choice([8, 0, 4])
    net.gates[str(right)].set_choice([0, 2, 0, 8])
    small = materialize(net, discretize(net))
    kept_inputs = [0, 2, 3 + 1, 3 + 3]  # right's channels start after left's 3
    assert torch.equal(small.merge.weight, net.layer("merge").weight[:, kept_inputs])
    assert small.left.weight.shape[0] == 2 and small.right.weight.shape[0] == 2


def test_flatten_expands_each_channel_to_its_features(tiny_model) -> None:
    model, x = tiny_model("flatten")
    net = to_supernet(model, x)
    spec = net.info.layers["fc1"].spec
    assert (spec.in_channels, spec.in_unit) == (3, 16)  # 3 channels of 4x4 -> 48 features
    assert spec.weights_per_channel == 48
    net.layer("conv").gates.set_choice([4, 0, 8])
    small = materialize(net, discretize(net))
    kept = list(range(0, 16)) + list(range(32, 48))  # channel 1's 16 features are gone
    assert torch.equal(small.fc1.weight, net.layer("fc1").weight[:, kept])


class InputResidual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv2(torch.relu(self.conv(x) + x)))
        return self.fc(y.mean((2, 3)))


def test_residual_add_with_the_network_input_is_unprunable() -> None:
    net = to_supernet(InputResidual(), torch.randn(2, 3, 8, 8))
    assert group_of(net, "conv") in net.info.unprunable
    assert net.layer("conv").gates.options == (2, 4, 8)
    assert group_of(net, "conv2") not in net.info.unprunable and 0 in net.layer("conv2").gates.options


def test_calibration_sets_clips_and_signs(tiny_model) -> None:
    model, x = tiny_model("resnet")
    net = to_supernet(model, x)
    stem, a1 = net.layer("stem").act, net.layer("a1").act
    assert bool(stem.signed) and stem.clip.item() == pytest.approx(x.abs().max().item())  # the network input
    assert not bool(a1.signed)  # after a ReLU
    with torch.no_grad():
        relu_out = torch.relu(model.stem_bn(model.stem(x)))
    assert a1.clip.item() == pytest.approx(relu_out.max().item())
    net2 = to_supernet(model, x, quantize_activations=False)
    assert not any(m.enabled for m in net2.modules() if isinstance(m, ActQuant))


def test_calibrate_resets_clips_from_the_supernets_own_activations(tiny_model) -> None:
    model, x = tiny_model("resnet")
    net = to_supernet(model, x)
    with torch.no_grad():
        for name in net.layer_names:
            net.layer(name).act.clip.fill_(123.0)
            net.layer(name).act.signed.fill_(True)
    calibrate(net, x)
    stem, a1 = net.layer("stem").act, net.layer("a1").act
    assert stem.clip.item() == pytest.approx(x.abs().max().item()) and bool(stem.signed)
    assert not bool(a1.signed) and 0 < a1.clip.item() < 123.0
    assert all(net.layer(n).act.enabled for n in net.layer_names)  # quantizers are switched back on


def test_exclude_leaves_a_layer_float(tiny_model) -> None:
    model, x = tiny_model("resnet")
    net = to_supernet(model, x, exclude=["shortcut"])
    assert "shortcut" not in net.layer_names
    assert type(net.net.get_submodule("shortcut")) is nn.Conv2d
    assert group_of(net, "b2") in net.info.unprunable  # it meets an unsearched tensor at the add


def test_exclude_keeps_the_batchnorm_of_an_excluded_layer(tiny_model) -> None:
    """The excluded stem stays float with its BatchNorm (which used to be folded away and lost)."""
    model, x = tiny_model("resnet")
    net = to_supernet(model, x, exclude=["stem"], bits=(8,), quantize_activations=False).eval()
    assert "stem_bn" in {n.target for n in net.net.graph.nodes if n.op == "call_module"}
    with torch.no_grad():
        inner = torch.relu(model.stem_bn(model.stem(x)))
        seen = {}
        hook = net.layer("a1").register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0]))
        net(x)
        hook.remove()
    assert torch.equal(seen["x"], inner)


def test_layer_granularity_on_a_nested_model(random_arch) -> None:
    """One precision per layer; nested module paths used to break the gate dictionary."""
    model = create_model("resnet8", 10, (3, 8, 8))
    x = torch.randn(4, 3, 8, 8)
    net = to_supernet(model, x, bits=(2, 4, 8), granularity="layer").eval()
    assert len(net.gates) == len(net.layer_names) and all(g.channels == 1 for g in net.gates.values())
    assert net.layer("stack1.conv2").gates is not net.layer("conv").gates
    random_arch(net, seed=0)
    net.set_sampling("hard")
    arch = discretize(net)
    assert all(len(set(bits)) == 1 and len(bits) == net.specs[n].out_channels for n, bits in arch.weight_bits.items())
    with torch.no_grad():
        assert torch.allclose(net(x), materialize(net, arch).eval()(x), atol=1e-5)
