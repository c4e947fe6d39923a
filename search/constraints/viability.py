"""The smallest network a search may return, priced without training: a budget below it is refused up front.

A search must never kill the network, so every prunable channel group keeps at least
`min_channels` channels and every unprunable one (reaching the output, meeting the input at an
add) keeps all of them; each kept channel at the lowest non-zero bit-width. A budget under that
cost cannot be met by any architecture and would only be found out after the whole search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

import cost_models
from search.pricing import layer_choices
from supernet import Architecture, Supernet, to_supernet
from targets.target import Target

MinChannels = int | Callable[[int], int]  # a count, or channels of the group -> count (SearchConfig.min_kept)


def _floor(min_channels: MinChannels, channels: int) -> int:
    want = min_channels(channels) if callable(min_channels) else min_channels
    return min(max(int(want), 1), channels)


def smallest_architecture(
    net: Supernet, weight_bits: int, act_bits: int, min_channels: MinChannels = 1
) -> Architecture:
    """Every prunable group at its first `min_channels` channels, each layer at `weight_bits` (or its lowest
    non-zero option when it lacks that one) and `act_bits` (likewise)."""
    if not callable(min_channels) and min_channels < 1:
        raise ValueError(f"min_channels must be >= 1, got {min_channels}")
    weights, acts = {}, {}
    for group, layers in net.groups_of_layers().items():
        for name in layers:
            spec, layer = net.specs[name], net.layer(name)
            keep = spec.out_channels if group in net.info.unprunable else _floor(min_channels, spec.out_channels)
            nonzero = [b for b in layer.gates.options if b > 0]
            b = weight_bits if weight_bits in nonzero else min(nonzero)
            weights[name] = (b,) * keep + (0,) * (spec.out_channels - keep)
            a_opts = layer.act.options
            acts[name] = act_bits if act_bits in a_opts else min(a_opts)
    return Architecture(weights, acts, {"method": "smallest-viable"})


def smallest_viable_cost(
    model: nn.Module,
    example_input: Tensor,
    target: Target,
    cost: str,
    bits: Iterable[int] | None = None,
    act_bits: Iterable[int] | None = None,
    min_channels: MinChannels = 1,
    exclude: Iterable[str] = (),
    keep_channels: Iterable[str] = (),
) -> float:
    """The lowest `cost` on `target` over the architectures a search can end with (no training).

    bits/act_bits: the options of the search (default: the target's). Each uniform choice of the
    lowest bit-widths is priced and the cheapest taken, since on some devices fewer bits cost more
    cycles (unpacking), so the lowest width is not always the cheapest. exclude/keep_channels: the run's
    (float layers are not priced, kept layers keep every channel), so the floor is the run's own.
    """
    bits = tuple(sorted(set(bits if bits is not None else target.weight_bits) | {0}))
    act_bits = tuple(sorted(set(act_bits if act_bits is not None else target.act_bits)))
    with torch.no_grad():
        net = to_supernet(
            model, example_input, bits=bits, act_bits=act_bits, exclude=exclude, keep_channels=keep_channels
        )
    best = float("inf")
    for w in (b for b in bits if b > 0):
        for a in act_bits:
            arch = smallest_architecture(net, w, a, min_channels)
            best = min(best, float(cost_models.evaluate(cost, layer_choices(net, arch), target)))
    return best
