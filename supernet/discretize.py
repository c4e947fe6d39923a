"""From gates to a discrete architecture: the argmax option of every channel."""

from __future__ import annotations

from typing import Any

from supernet.arch import Architecture
from supernet.network import Supernet


def discretize(net: Supernet, meta: dict[str, Any] | None = None) -> Architecture:
    """argmax of every gate. A group whose every channel would be pruned keeps its most-kept channel,
    so the network stays connected (a layer with zero channels cannot be deployed)."""
    weight_bits: dict[str, tuple[int, ...]] = {}
    act_bits: dict[str, int] = {}
    for name, info in net.info.layers.items():
        layer = net.layer(name)
        bits = layer.gates.choice()
        if len(bits) == 1:
            bits = bits * info.spec.out_channels
        if not any(bits):
            alpha = layer.gates.logits().detach()  # disallowed options at -inf
            best = int((alpha[1:].max(0).values - alpha[0]).argmax())
            bits[best] = layer.gates.options[1 + int(alpha[1:, best].argmax())]
        weight_bits[name] = tuple(bits)
        act = layer.act
        act_bits[name] = act.gates.choice()[0] if act.gates is not None else act.options[0]
    info = {"granularity": net.granularity, "bits": list(net.bits), "act_bits": list(net.act_bits)}
    return Architecture(weight_bits, act_bits, {**info, **(meta or {})})
