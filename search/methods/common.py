"""Helpers shared by the layer-wise baselines (importance, TwoNN, ADMM, prune-then-mps).

- which bit-widths a target can store (seed 000 wants 1..8, seed 002 wants 1 and 2);
- what each searchable layer "outputs" on a batch (after its BatchNorm and activation);
- architectures with one bit-width per layer, and the accuracy of an architecture before fine-tuning.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, fx, nn

from search.context import RunContext
from search.train import evaluate
from supernet import Architecture, Supernet, materialize, to_supernet, trace

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_ACT_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Hardswish,
    nn.Hardtanh,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardsigmoid,
)
_ACT_FUNCS = {
    "relu",
    "relu_",
    "relu6",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "hardswish",
    "hardtanh",
    "tanh",
    "sigmoid",
    "hardsigmoid",
    "batch_norm",
}


def storable_bits(ctx: RunContext, low: int = 1, high: int = 8) -> tuple[int, ...]:
    """Non-zero bit-widths in low..high that the target can store (cfg.bits narrows them when given).

    A device lists in storage_bits every width it can hold, which may include widths its kernels do
    not offer to the differentiable search (generic stores 1..8); when it lists none in the range,
    the target's non-zero weight_bits are used.
    """
    bits = [b for b in range(low, high + 1) if b in ctx.target.storage_bits]
    if ctx.cfg.bits is not None:
        bits = [b for b in bits if b in ctx.cfg.bits] or [b for b in ctx.cfg.bits if b > 0]
    return tuple(sorted(set(bits))) or tuple(b for b in ctx.target.weight_bits if b > 0)


def build_supernet(model: nn.Module, x: Tensor, ctx: RunContext, **options: Any) -> Supernet:
    """`to_supernet` with the run's exclude= and keep_channels= (every method builds its supernet here)."""
    return to_supernet(model, x, exclude=ctx.cfg.exclude, keep_channels=ctx.cfg.keep_channels, **options)


def round_up_bits(bits: int, available: tuple[int, ...]) -> int:
    """The smallest available bit-width >= bits (the largest available one if none is)."""
    above = [b for b in available if b >= bits]
    return min(above) if above else max(available)


def representation_nodes(gm: fx.GraphModule, names: list[str]) -> dict[str, str]:
    """fx node name -> layer name: the layer's output after the BatchNorm/activations that solely follow it."""
    modules = dict(gm.named_modules())
    out = {}
    for node in gm.graph.nodes:
        if node.op != "call_module" or node.target not in names:
            continue
        cur = node
        while len(cur.users) == 1:
            nxt = next(iter(cur.users))
            if nxt.op == "call_module" and isinstance(modules[nxt.target], _BN + _ACT_MODULES):
                cur = nxt
            elif (
                nxt.op in ("call_function", "call_method") and getattr(nxt.target, "__name__", nxt.target) in _ACT_FUNCS
            ):
                cur = nxt
            else:
                break
        out[cur.name] = node.target
    return out


@torch.no_grad()
def layer_outputs(model: nn.Module, names: list[str], x: Tensor) -> dict[str, Tensor]:
    """Each named layer's output on `x` (eval mode), taken after its BatchNorm and activation, so
    that it is the representation the next layer sees (seed 002 hooks Keras layers with activation)."""
    gm = trace(model)
    wanted = representation_nodes(gm, names)
    outs: dict[str, Tensor] = {}

    class Capture(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            result = super().run_node(n)
            if n.name in wanted:
                outs[wanted[n.name]] = result.detach().clone()
            return result

    was = model.training
    gm.eval()
    Capture(gm).run(x)
    model.train(was)
    return {n: outs[n] for n in names if n in outs}


def layer_arch(
    net: Supernet, bits: dict[str, int], meta: dict[str, Any], pruned: dict[str, list[int]] | None = None
) -> Architecture:
    """One bit-width per layer (channels listed in `pruned` at 0); activations at their largest option."""
    pruned = pruned or {}
    weight_bits = {}
    for name, spec in net.specs.items():
        gone = set(pruned.get(name, ()))
        weight_bits[name] = tuple(0 if c in gone else bits[name] for c in range(spec.out_channels))
    act_bits = {name: max(net.layer(name).act.options) for name in net.specs}
    arch = Architecture(weight_bits, act_bits, meta)
    net.check(arch)
    return arch


def set_gates(net: Supernet, arch: Architecture) -> None:
    """Point every gate at `arch` (layers sharing gates must agree, as net.check requires)."""
    for name in net.layer_names:
        gates = net.layer(name).gates
        bits = arch.weight_bits[name]
        gates.set_choice(list(bits) if gates.channels > 1 else [bits[0]])


def arch_accuracy(net: Supernet, arch: Architecture, ctx: RunContext) -> float:
    """Validation accuracy of `arch` before fine-tuning: one pass of the materialized network.

    The same function as the supernet with hard gates on `arch`, but it quantizes each channel at
    its own bit-width only (the supernet computes every option), and it takes different bit-widths
    for layers that share gates (residual groups share channels, not precision).
    """
    return evaluate(materialize(net, arch), ctx.data.val)
