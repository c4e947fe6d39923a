"""discretize: the argmax of every gate, never a group with every channel pruned."""

from __future__ import annotations

import pytest
import torch

from supernet import discretize, to_supernet


@pytest.mark.parametrize("name", ["resnet", "dscnn", "concat", "flatten"])
def test_discretize_takes_the_argmax(name: str, tiny_model, random_arch) -> None:
    model, x = tiny_model(name)
    net = to_supernet(model, x, act_bits=(2, 4, 8))
    chosen = random_arch(net, seed=7)
    arch = discretize(net, meta={"method": "unit-test"})
    net.check(arch)
    for layers, key in ((layers, str(g)) for g, layers in net.groups_of_layers().items()):
        for layer in layers:
            assert list(arch.weight_bits[layer]) == chosen[key]
            assert arch.act_bits[layer] == net.layer(layer).act.gates.choice()[0]
    assert arch.meta == {"granularity": "channel", "bits": [0, 2, 4, 8], "act_bits": [2, 4, 8], "method": "unit-test"}


def test_a_fully_pruned_group_keeps_its_most_kept_channel(tiny_model) -> None:
    model, x = tiny_model("resnet")
    net = to_supernet(model, x)
    for gates in net.gates.values():
        gates.set_choice([0 if gates.prunable else 8] * gates.channels)
    b1 = net.layer("b1").gates
    with torch.no_grad():  # every channel prefers 0 bits; channel 4 least so, and there 4 bits beat 2 and 8
        b1.alpha.copy_(torch.tensor([[5.0, 5, 5, 5, 5, 5], [1, 1, 1, 1, 2, 1], [0, 0, 0, 0, 4, 0], [1, 2, 1, 1, 3, 1]]))
    arch = discretize(net)
    net.check(arch)
    assert arch.weight_bits["b1"] == (0, 0, 0, 0, 4, 0)
    for layers in net.groups_of_layers().values():
        assert all(len(arch.kept(layer)) >= 1 for layer in layers)
    assert arch.weight_bits["stem"] == arch.weight_bits["a2"]  # a residual group stays consistent


def test_the_kept_channel_respects_the_allowed_options(tiny_model) -> None:
    model, x = tiny_model("resnet")
    net = to_supernet(model, x)
    b1 = net.layer("b1").gates
    with torch.no_grad():  # every channel prefers 0 bits; channel 4 least so, and there 8 bits beat 4 and 2
        b1.alpha.copy_(torch.tensor([[5.0, 5, 5, 5, 5, 5], [1, 1, 1, 1, 2, 1], [0, 0, 0, 0, 3, 0], [1, 2, 1, 1, 4, 1]]))
    b1.set_allowed(torch.tensor([True, True, True, False]))  # ... but 8 bits are not allowed
    assert discretize(net).weight_bits["b1"] == (0, 0, 0, 0, 4, 0)


@pytest.mark.parametrize("name", ["resnet", "dscnn", "concat"])
def test_discretize_never_prunes_a_whole_group(name: str, tiny_model) -> None:
    model, x = tiny_model(name)
    net = to_supernet(model, x)
    g = torch.Generator().manual_seed(0)
    for _ in range(25):
        with torch.no_grad():
            for gates in net.gates.values():  # logits that usually prefer pruning
                gates.alpha.copy_(torch.randn(gates.alpha.shape, generator=g))
                if gates.prunable:
                    gates.alpha[0] += 1.5
        arch = discretize(net)
        net.check(arch)  # raises on a group with every channel pruned
        for gid, layers in net.groups_of_layers().items():
            argmax = net.gates[str(gid)].choice()
            for layer in layers:
                kept = arch.kept(layer)
                assert kept
                if any(argmax):
                    assert list(arch.weight_bits[layer]) == argmax


def test_layer_granularity_expands_to_every_channel(tiny_model) -> None:
    model, x = tiny_model("resnet")
    net = to_supernet(model, x, bits=(2, 4, 8), granularity="layer")
    for i, name in enumerate(net.layer_names):
        net.layer(name).gates.set_choice([(2, 4, 8)[i % 3]])
    arch = discretize(net)
    for i, name in enumerate(net.layer_names):
        assert arch.weight_bits[name] == ((2, 4, 8)[i % 3],) * net.specs[name].out_channels
    net.check(arch)
