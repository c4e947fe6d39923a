"""Ops that move channels without computing on them: reshapes, transposes, channel shuffles, chunk/split
and slices along dim 1. Each returns the output `Flow` (None when it cannot follow) and, for a
rearrangement or selection, a `Route` that materialization replays on the physically pruned tensor.

A channel shuffle, in torchvision's form (view to (N, g, C/g, H, W), transpose(1, 2), view back) or as
`torch.channel_shuffle` / `nn.ChannelShuffle`, is a fixed permutation: output channel k carries input
channel perm[k], so its consumers read (group, index) entries in the new order.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import fx

from supernet.flow import Flow, Route


def shape_of(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if hasattr(meta, "shape") else None


def shuffle_permutation(channels: int, groups: int) -> list[int]:
    """perm[k] = the input channel that torch.channel_shuffle(x, groups) puts at channel k."""
    return torch.arange(channels).reshape(groups, channels // groups).T.flatten().tolist()


def _end_block(node: fx.Node, flow: Flow) -> tuple[Flow, Route | None]:
    """Channels back on one dim: a route from the tensor the block was made from."""
    one = replace(flow, block=(), origin=None, positions=())
    return one, Route(flow.origin, flow.positions, Flow(()))


def reshape(node: fx.Node, flow: Flow) -> tuple[Flow | None, Route | None]:
    """view/reshape/flatten/squeeze/unsqueeze of a tensor whose channels are at dim 1 (or dims 1..k)."""
    src, dst = shape_of(node.all_input_nodes[0]), shape_of(node)
    if src is None or dst is None or len(src) < 2:
        return None, None
    if src == dst:
        return flow, None
    block = flow.block or (src[1],)
    spatial = src[1 + len(block) :]
    if not flow.block and len(dst) == 2 and dst[0] == src[0] and dst[1] == src[1] * math.prod(spatial):
        return replace(flow, unit=flow.unit * math.prod(spatial)), None  # flatten: a channel spans H*W features
    if not flow.block and flow.unit == 1 and dst[:2] == src[:2]:
        return flow, None  # only the spatial dims change
    n_sp = len(spatial)
    new_block = dst[1 : len(dst) - n_sp]
    if (
        dst[0] == src[0]
        and tuple(dst[len(dst) - n_sp :]) == spatial
        and new_block
        and math.prod(new_block) == math.prod(block)
        and flow.unit == 1
    ):
        if len(new_block) == 1:
            return _end_block(node, flow) if flow.block else (flow, None)
        if flow.block:
            return replace(flow, block=tuple(new_block)), None
        start = node.all_input_nodes[0].name
        return replace(flow, block=tuple(new_block), origin=start, positions=tuple(range(flow.channels))), None
    return None, None


def transpose(node: fx.Node, flow: Flow, dims: list[int]) -> tuple[Flow | None, Route | None]:
    """transpose/permute: spatial-only moves keep the flow; moves inside a channel block permute it."""
    ndim = len(dims)
    block = flow.block or (flow.channels,)
    channel_dims = list(range(1, 1 + len(block)))
    if dims[0] != 0 or sorted(dims[1 : 1 + len(block)]) != channel_dims:
        return None, None  # the channels leave their dims (e.g. NCHW -> NHWC)
    if dims[1 : 1 + len(block)] == channel_dims or ndim < 2:
        return flow, None
    order = [d - 1 for d in dims[1 : 1 + len(block)]]
    perm = torch.arange(flow.channels).reshape(block).permute(order).flatten().tolist()
    new_block = tuple(block[d] for d in order)
    return replace(
        flow,
        entries=tuple(flow.entries[p] for p in perm),
        block=new_block,
        positions=tuple(flow.positions[p] for p in perm),
    ), None


def shuffle(node: fx.Node, flow: Flow, groups: int) -> tuple[Flow | None, Route | None]:
    if flow.block or flow.channels % groups:
        return None, None
    perm = shuffle_permutation(flow.channels, groups)
    return flow.select(perm), Route(node.all_input_nodes[0].name, tuple(perm), Flow(()))


def split_sizes(node: fx.Node, name: str, channels: int) -> list[int] | None:
    """Sizes of the pieces of chunk/split/tensor_split along dim 1; None when not along dim 1."""
    args, kw = node.args, node.kwargs
    dim = kw.get("dim", args[2] if len(args) > 2 else 0)
    src = shape_of(node.all_input_nodes[0])
    if src is None or not isinstance(dim, int) or dim % len(src) != 1:
        return None
    spec = kw.get("chunks", kw.get("split_size_or_sections", kw.get("split_size", args[1] if len(args) > 1 else None)))
    if name == "chunk" and isinstance(spec, int):
        size = -(-channels // spec)
        return [min(size, channels - s) for s in range(0, channels, size)]
    if name == "split" and isinstance(spec, int):
        return [min(spec, channels - s) for s in range(0, channels, spec)]
    if name == "split" and isinstance(spec, (list, tuple)) and all(isinstance(s, int) for s in spec):
        return list(spec)
    return None


def index(node: fx.Node, flow: Flow) -> tuple[Flow | None, Route | None]:
    """x[...] on a tensor: only slices, with at most a slice on dim 1 (a channel selection)."""
    idx = node.args[1]
    idx = idx if isinstance(idx, tuple) else (idx,)
    if flow.block or not all(isinstance(i, slice) for i in idx) or any(i != slice(None) for i in idx[:1] + idx[2:]):
        return None, None
    if len(idx) < 2 or idx[1] == slice(None):
        return flow, None
    positions = tuple(range(flow.channels))[idx[1]]
    return flow.select(positions), Route(node.all_input_nodes[0].name, positions, Flow(()))
