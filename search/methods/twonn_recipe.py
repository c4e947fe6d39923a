"""Seed 002's training recipe for its hybrid-precision network, as options of `twonn`.

The thesis (section 3.3.3) quantizes a layer's *incoming activations* at the layer's own precision:

    A~ = sign(A)                                  binary layers (sign(0) = 0, as tf.sign)
    A~ = dequant_b(quant_b(clip(A, -1, +1)))      b-bit layers, a static [-1, +1] clip, no scale

keeps the first and last layers at full precision (float32, activations not quantized), and, in
its standalone setup, trains the hybrid network again from scratch with that quantization. The
options (method_options of `twonn`):

  activations = "pact"    bitgate's default: 8-bit PACT activations with calibrated, learned clips
              = "thesis"  the rule above: an ActQuant with a fixed clip of 1.0 (signed, b bits,
                          levels -(2^(b-1)-1) .. 2^(b-1)-1 over [-1, 1]) for b >= 2, sign for 1 bit
  first_last  = "int8"    first and last layer at 8 bits (what a microcontroller stores; default)
              = "float"   float32 weights and unquantized inputs; the extra 3 bytes per weight of
                          those layers are added to size / memory (24 bits to size_bits)
  retrain     = "finetune" QAT starts from the warmed-up float weights (default)
              = "scratch"  QAT starts from a freshly initialised model (seed 002's standalone setup)

What the integer exporter cannot write: sign activations (it has no 1-bit activation grid) and
float layers; those networks are trained and evaluated in PyTorch only. Costs keep pricing the
activations at the supernet's act bits (8): the thesis has no bitops figure to compare with.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor, nn

from search.context import RunContext
from search.methods.common import build_supernet
from supernet import Architecture, Supernet, materialize
from supernet.fixed import FixedLayer
from supernet.layers import ActQuant
from zoo.models import create_model

Activations = Literal["pact", "thesis"]
FirstLast = Literal["int8", "float"]
Retrain = Literal["finetune", "scratch"]
ACTIVATIONS, FIRST_LAST, RETRAIN = get_args(Activations), get_args(FirstLast), get_args(Retrain)


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)  # straight-through inside the [-1, 1] clip


class SignAct(ActQuant):
    """Binary activations: sign(A), straight-through inside [-1, 1].

    sign(0) = 0, as tf.sign (the thesis' TensorFlow): after a ReLU the inputs are >= 0, and a sign
    with sign(0) = +1 would map every one of them to +1 and carry no information (measured: 10%
    on digits, chance); with sign(0) = 0 a post-ReLU input becomes the step {0, 1}.
    """

    def __init__(self) -> None:
        super().__init__((1,))
        self.clip.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        return _SignSTE.apply(x)


def unit_clip_act(bits: int) -> ActQuant:
    """b-bit activations on a fixed, signed [-1, 1] grid (the thesis' static clip, no scale)."""
    if bits == 1:
        return SignAct()
    act = ActQuant((bits,))
    with torch.no_grad():
        act.clip.fill_(1.0)
        act.signed.fill_(True)
    act.clip.requires_grad_(False)
    return act


class FloatLayer(FixedLayer):
    """A layer left at full precision: float weights, inputs not quantized."""

    def quantized_weight(self) -> Tensor:
        return self.weight


def float_layer(layer: FixedLayer) -> FloatLayer:
    act = ActQuant((8,), enabled=False)
    out = FloatLayer(layer.op, layer.weight, layer.bias, layer.bits.tolist(), act, layer.bn)
    return out


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def float_extra_costs(net: Supernet, arch: Architecture, names: list[str]) -> dict[str, float]:
    """What float32 first/last layers store beyond the 8 bits arch.json gives them."""
    weights = sum(net.specs[n].weights_per_channel * len(arch.kept(n)) for n in names)
    return {"size": 3.0 * weights, "memory": 3.0 * weights, "size_bits": 24.0 * weights}


def build_hybrid(
    net: Supernet, arch: Architecture, ctx: RunContext, activations: str, first_last: str, retrain: str
) -> nn.Module:
    """The network to fine-tune (QAT) under seed 002's recipe options (module docstring)."""
    if retrain == "scratch":
        torch.manual_seed(ctx.cfg.seed + 1)
        fresh = create_model(ctx.cfg.model, ctx.data.num_classes, ctx.data.in_shape)
        x = ctx.data.train.batch(slice(0, 512))[0]
        net = build_supernet(
            fresh,
            x,
            ctx,
            bits=tuple(sorted({b for bits in arch.weight_bits.values() for b in bits})),
            act_bits=ctx.cfg.act_bits[-1:],
        )
    model = materialize(net, arch)
    names = net.layer_names
    ends = {names[0], names[-1]}
    for name in names:
        layer = model.get_submodule(name)
        if first_last == "float" and name in ends:
            _set(model, name, float_layer(layer))
        elif activations == "thesis" and name not in ends:
            layer.act = unit_clip_act(int(layer.bits.max()))
    return model
