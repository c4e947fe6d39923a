"""Architectures: JSON round trip, structural checks against a network, what cost models see."""

from __future__ import annotations

import pytest
import torch

from supernet import Architecture, discretize, materialize, to_supernet

# TinyResNet groups: {stem, a2} (identity residual), {a1}, {b1}, {shortcut, b2}, {fc} (output)
GOOD = {
    "stem": (8, 0, 4, 2),
    "a1": (2, 2, 0, 8),
    "a2": (4, 0, 8, 8),  # same kept channels as stem; the bit-widths may differ
    "b1": (0, 8, 8, 0, 4, 4),
    "b2": (8, 8, 0, 2, 0, 8),
    "shortcut": (2, 4, 0, 8, 0, 8),
    "fc": (8, 4, 8),
}


def arch_with(**changes: tuple[int, ...]) -> Architecture:
    bits = {**GOOD, **changes}
    return Architecture(bits, dict.fromkeys(bits, 8), {"model": "tiny"})


@pytest.fixture
def net(tiny_model):
    model, x = tiny_model("resnet")
    return to_supernet(model, x, act_bits=(4, 8))


def test_json_round_trip_and_files(tmp_path) -> None:
    arch = Architecture({"a": (8, 0, 2), "b.c": (4,)}, {"a": 8, "b.c": 4}, {"method": "test", "lambda": 0.5})
    assert Architecture.from_json(arch.to_json()) == arch
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json())
    loaded = Architecture.load(path)
    assert loaded == arch and loaded.kept("a") == [0, 2]
    assert arch.to_dict()["format"] == "bitgate-arch/1"


def test_bad_architecture_files_and_values(tmp_path) -> None:
    with pytest.raises(ValueError, match="cannot read architecture"):
        Architecture.load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read architecture"):
        Architecture.load(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="not a bitgate architecture"):
        Architecture.from_json('{"format": "other", "layers": {}}')
    with pytest.raises(ValueError, match="invalid bit-widths"):
        Architecture({"a": (8, -1)}, {"a": 8})
    with pytest.raises(ValueError, match="has no channels"):
        Architecture({"a": ()}, {"a": 8})
    with pytest.raises(ValueError, match="both weight and activation"):
        Architecture({"a": (8,)}, {})


def test_discretized_architecture_survives_a_file(net, random_arch, tmp_path) -> None:
    random_arch(net, seed=4)
    arch = discretize(net, meta={"method": "test"})
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json())
    loaded = Architecture.load(path)
    assert loaded == arch and loaded.meta["granularity"] == "channel" and loaded.meta["bits"] == [0, 2, 4, 8]
    net.check(loaded)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stem": (8, 8, 8)}, "gives 3 channels for layer 'stem', which has 4"),
        ({"a2": (4, 8, 0, 8)}, "meet at an add and must keep the same channels"),  # stem keeps 0, 2, 3
        ({"b1": (0,) * 6}, "prunes every channel"),
        ({"fc": (8, 0, 8)}, "must keep all channels"),
    ],
    ids=["channel-count", "residual-mismatch", "all-pruned", "output-pruned"],
)
def test_check_rejects_architectures_that_do_not_fit(net, changes: dict, message: str) -> None:
    net.check(arch_with())
    bad = arch_with(**changes)
    with pytest.raises(ValueError, match=message):
        net.check(bad)
    with pytest.raises(ValueError, match=message):
        materialize(net, bad)


def test_check_rejects_missing_and_unknown_layers(net) -> None:
    bits = dict(GOOD)
    del bits["fc"]
    bits["extra"] = (8,)
    with pytest.raises(ValueError, match=r"missing \['fc'\], unknown \['extra'\]"):
        net.check(Architecture(bits, dict.fromkeys(bits, 8)))


def test_layer_choices_of_an_architecture_are_one_hot(net) -> None:
    arch = arch_with()
    choices = {c.spec.name: c for c in net.layer_choices(arch)}
    assert list(choices) == net.layer_names
    stem = choices["stem"]
    assert stem.weight_bits == (0, 2, 4, 8)
    assert torch.equal(stem.weight_probs, torch.tensor([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 0, 0.0]]))
    assert torch.equal(stem.keep, torch.tensor([1, 0, 1, 1.0]))
    assert torch.equal(stem.in_keep, torch.ones(3))  # the network input
    assert torch.equal(choices["a1"].in_keep, torch.tensor([1, 0, 1, 1.0]))  # reads the stem group
    assert torch.equal(choices["b2"].in_keep, torch.tensor([0, 1, 1, 0, 1, 1.0]))  # reads b1
    assert torch.equal(choices["fc"].in_keep, torch.tensor([1, 1, 0, 1, 0, 1.0]))  # reads {shortcut, b2}
    assert choices["fc"].out_act_bits == (8,)  # the network output is requantized to 8 bits


def test_soft_layer_choices_follow_the_gates(net) -> None:
    with torch.no_grad():
        for gates in net.gates.values():
            gates.alpha.normal_()
    choices = {c.spec.name: c for c in net.layer_choices()}
    theta = net.layer("b1").gates.probs()
    assert torch.allclose(choices["b1"].weight_probs, theta)
    assert torch.allclose(choices["b2"].in_keep, 1 - theta[0])  # expected kept channels of the producer
    assert torch.allclose(choices["b1"].out_act_probs, net.layer("b2").act.probs())
    assert choices["b1"].act_bits == (4, 8)
    loss = sum(c.keep.sum() + c.in_keep.sum() for c in choices.values())
    loss.backward()  # cost models can differentiate through what they see
    assert all(g.alpha.grad is not None for g in net.gates.values())
