"""With hard (one-hot) gates the supernet and the materialized network compute the same function.

What is asserted, precisely:

* activation quantization off: every output element agrees to 1e-5 (only float summation order
  differs: the materialized layers sum over fewer input channels);
* activation quantization on: the same argmax on every input, and the quantized input of the last
  layer agrees element by element to within one step of its quantizer (clip / levels), pruned
  channels being exactly 0 in the supernet; the outputs then differ by at most
  step * sum_j |W_q[i, j]| per element. A float-order difference can push a value across a rounding
  boundary of some quantizer, so this is not guaranteed to be exact; on these seeds no rounding flips
  and the outputs agree to 2e-8 (the last layer's float summation order).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from supernet import discretize, materialize, to_supernet
from supernet.materialize import _input_index
from zoo.models import create_model

# BatchNorm folded into the layer at conversion (the default), or kept after the gate.
FOLD = pytest.mark.parametrize("fold", [{"fold_bn": True}, {"fold_bn": False}], ids=["fold", "bn-after-gate"])


def build(name: str, seed: int, tiny_model, random_batchnorms) -> tuple[nn.Module, torch.Tensor]:
    if name in ("resnet8", "dscnn"):
        shape = {"resnet8": (3, 8, 8), "dscnn": (1, 16, 8)}[name]
        torch.manual_seed(seed)
        model = create_model(name, 4, shape).eval()
        g = torch.Generator().manual_seed(seed)
        random_batchnorms(model, g)
        return model, torch.randn(16, *shape, generator=g)
    return tiny_model(name, seed=seed, batch=16)


def last_layer(net) -> str:
    return net.layer_names[-1]


MODELS = ["resnet8", "dscnn", "concat", "resnet", "flatten"]
# per seed: weight options and which prunable group keeps exactly one channel
SETTINGS = {0: ((0, 2, 4, 8), 0), 1: ((0, 1, 2, 4, 8), 1), 5: ((0, 2, 8), 2)}


@FOLD
@pytest.mark.parametrize("seed", sorted(SETTINGS))
@pytest.mark.parametrize("name", MODELS)
def test_equal_without_activation_quantization(
    name: str, seed: int, fold: dict, tiny_model, random_arch, random_batchnorms
) -> None:
    model, x = build(name, seed, tiny_model, random_batchnorms)
    bits, keep_one = SETTINGS[seed]
    net = to_supernet(model, x, bits=bits, quantize_activations=False, **fold).eval()
    random_arch(net, seed, keep_one=keep_one)
    net.set_sampling("hard")
    arch = discretize(net)
    assert any(len(arch.kept(n)) == 1 < len(b) for n, b in arch.weight_bits.items())  # a group down to 1 channel
    assert len({b for bits in arch.weight_bits.values() for b in bits} - {0}) > 1  # mixed precision
    small = materialize(net, arch).eval()
    with torch.no_grad():
        assert (net(x) - small(x)).abs().max().item() < 1e-5


@FOLD
@pytest.mark.parametrize("seed", sorted(SETTINGS))
@pytest.mark.parametrize("name", MODELS)
def test_equal_with_activation_quantization(
    name: str, seed: int, fold: dict, tiny_model, random_arch, random_batchnorms
) -> None:
    model, x = build(name, seed, tiny_model, random_batchnorms)
    bits, keep_one = SETTINGS[seed]
    act_bits = (2, 4, 8) if seed == 5 else (8,)  # seed 5 also searches the activation bits
    net = to_supernet(model, x, bits=bits, act_bits=act_bits, **fold).eval()
    random_arch(net, seed, keep_one=keep_one)
    net.set_sampling("hard")
    arch = discretize(net)
    small = materialize(net, arch).eval()
    last = last_layer(net)
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        net.layer(last).act.register_forward_hook(lambda m, i, o: seen.__setitem__("net", o)),
        small.get_submodule(last).act.register_forward_hook(lambda m, i, o: seen.__setitem__("small", o)),
    ]
    with torch.no_grad():
        y_net, y_small = net(x), small(x)
    for h in hooks:
        h.remove()
    assert torch.equal(y_net.argmax(1), y_small.argmax(1))
    act = small.get_submodule(last).act
    levels = 2 ** (arch.act_bits[last] - 1) - 1 if bool(act.signed) else 2 ** arch.act_bits[last] - 1
    step = (act.clip.abs().item() + 1e-8) / levels
    kept = _input_index(net, last, net.kept_channels(arch))
    pruned = sorted(set(range(seen["net"].shape[1])) - set(kept))
    assert not seen["net"][:, pruned].any()  # pruned channels are exactly 0 where they enter the last layer
    assert (seen["net"][:, kept] - seen["small"]).abs().max().item() <= step * (1 + 1e-4)
    w_q = small.get_submodule(last).quantized_weight().detach()
    bound = step * w_q.abs().flatten(1).sum(1) + 1e-5
    assert ((y_net - y_small).abs() <= bound).all()


@FOLD
def test_equal_in_training_mode(fold: dict, tiny_model, random_arch) -> None:
    """Batch statistics of a BatchNorm after a gate: pruned channels do not disturb the kept ones."""
    model, x = tiny_model("resnet", seed=3, batch=16)
    net = to_supernet(model, x, quantize_activations=False, **fold).train()
    random_arch(net, 3, keep_one=0)
    net.set_sampling("hard")
    small = materialize(net, discretize(net)).train()
    assert (net(x) - small(x)).abs().max().item() < 1e-5


@FOLD
# margin 200: exp(-200) underflows, so even the soft probabilities are exactly one-hot
@pytest.mark.parametrize(("mode", "margin"), [("hard", 20.0), ("soft", 200.0)])
@pytest.mark.parametrize("train", [False, True])
def test_a_channel_on_zero_bits_outputs_exactly_zero(
    fold: dict, mode: str, margin: float, train: bool, tiny_model
) -> None:
    model, x = tiny_model("resnet", seed=1, batch=16)  # every conv but the shortcut is followed by a BatchNorm
    net = to_supernet(model, x, **fold).train(train)
    net.layer("b1").gates.set_choice([8, 0, 4, 0, 2, 8], margin=margin)
    net.layer("stem").gates.set_choice([0, 8, 8, 2], margin=margin)  # shared with a2 (residual add)
    net.set_sampling(mode)
    outputs: dict[str, torch.Tensor] = {}
    hooks = [
        net.layer(n).register_forward_hook(lambda m, i, o, n=n: outputs.__setitem__(n, o)) for n in ("stem", "a2", "b1")
    ]
    net(x)
    for h in hooks:
        h.remove()
    assert all((net.layer(n).bn is None) == fold["fold_bn"] for n in ("stem", "a2", "b1"))
    assert not outputs["b1"][:, [1, 3]].any() and outputs["b1"][:, [0, 2, 4, 5]].abs().sum(1).gt(0).all()
    assert not outputs["stem"][:, 0].any() and not outputs["a2"][:, 0].any()
