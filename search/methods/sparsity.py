"""Element-wise (unstructured) pruning on top of an architecture: weight masks, and what they cost.

An Architecture says, per output channel, how many bits (0 = the channel is removed). Seed 000's
k-sigma thresholds and seed 003's ||W||_0 budget remove single weights instead; those decisions
are masks of the supernet layer's full weight shape (True = keep), passed in MethodResult.masks.

`masked_network` materializes the architecture, slices every mask the way `materialize` slices the
weights (kept output channels, surviving input features), sets the masked weights to exactly 0 and
zeroes their gradients, so fine-tuning keeps them at 0 (Adam and SGD, with or without weight decay,
never move a weight whose gradient is always 0 from 0). A 0 weight quantizes to the integer 0 at
any bit-width >= 2; a 1-bit field has no 0 (+-1 only), so masks are applied to channels of >= 2 bits
only (callers avoid 1-bit masks; `masked_network` refuses them).

`weight_counts` reads a (fine-tuned) materialized network back: per output channel of the original
layer, the weights still present (not masked: its S(l) for seed 000's average bit-width) and the
non-zero *integer* weights (what a sparse format stores; LayerChoice.nonzeros for size_sparse).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from supernet import Architecture, Supernet, materialize
from supernet.fixed import FixedLayer
from supernet.materialize import _input_index
from supernet.spec import LayerChoice, LayerChoices


def slice_mask(net: Supernet, arch: Architecture, name: str, mask: Tensor) -> Tensor:
    """The part of a full-shape mask that the materialized layer `name` keeps (materialize's slicing)."""
    info = net.info.layers[name]
    m = mask[torch.tensor(arch.kept(name))]
    if not info.spec.depthwise and net.layer(name).op.groups == 1:
        m = m[:, torch.tensor(_input_index(net, name, net.kept_channels(arch)))]
    return m


def apply_masks(model: nn.Module, masks: dict[str, Tensor]) -> None:
    """Zero the masked weights of the materialized layers and keep them at zero (gradient hooks)."""
    for name, mask in masks.items():
        layer = model.get_submodule(name)
        if not isinstance(layer, FixedLayer):
            raise TypeError(f"layer {name!r} is a {type(layer).__name__}, not a FixedLayer: cannot mask it")
        keep = mask.to(layer.weight.dtype)
        if bool(((layer.bits == 1) & (keep.flatten(1).min(1).values == 0)).any()):
            raise ValueError(f"layer {name!r}: a 1-bit channel cannot hold a pruned (zero) weight")
        with torch.no_grad():
            layer.weight.mul_(keep)
        layer.register_buffer("weight_mask", keep.clone())
        layer.weight.register_hook(lambda g, k=keep: g * k)


def masked_network(net: Supernet, arch: Architecture, masks: dict[str, Tensor]) -> nn.Module:
    """materialize(net, arch) with the element masks applied (see module docstring)."""
    model = materialize(net, arch)
    apply_masks(model, {n: slice_mask(net, arch, n, m) for n, m in masks.items()})
    return model


@dataclass(frozen=True)
class WeightCounts:
    """Per layer, per output channel of the original layer (0 for removed channels)."""

    present: dict[str, Tensor]  # weights not pruned (channel's kept inputs, minus masked weights)
    nonzero: dict[str, Tensor]  # non-zero integer weights after quantization


@torch.no_grad()
def weight_counts(net: Supernet, arch: Architecture, model: nn.Module) -> WeightCounts | None:
    """Counts read from the materialized `model`; None when a layer is not a FixedLayer (nothing to read)."""
    present, nonzero = {}, {}
    for name, spec in net.specs.items():
        layer = model.get_submodule(name)
        if not isinstance(layer, FixedLayer):
            return None
        idx = torch.tensor(arch.kept(name), dtype=torch.long)
        mask = getattr(layer, "weight_mask", torch.ones_like(layer.weight))
        full_p = torch.zeros(spec.out_channels, dtype=torch.float64)
        full_n = torch.zeros(spec.out_channels, dtype=torch.float64)
        full_p[idx] = mask.flatten(1).sum(1).double()
        full_n[idx] = (layer.quantized_weight() != 0).flatten(1).sum(1).double()
        present[name], nonzero[name] = full_p, full_n
    return WeightCounts(present, nonzero)


def with_nonzeros(choices: list[LayerChoice], counts: WeightCounts | None) -> list[LayerChoice]:
    """The choices with LayerChoice.nonzeros set from `counts` (unchanged when there are none)."""
    if counts is None:
        return choices
    out = [replace(c, nonzeros=counts.nonzero[c.spec.name]) for c in choices]
    if isinstance(choices, LayerChoices):  # keep the exporter's buffer plan, so the RAM cost stays the planned one
        return LayerChoices(out, planner=choices.deploy_plan)
    return out
