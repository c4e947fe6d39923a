"""Channel order of the deployed network: each layer's channels grouped by weight precision.

A layer with mixed precisions runs one kernel call per precision group, so its output channels
are reordered to make every group a contiguous range (stable sort by bits, ascending). The
reordering is absorbed by the consumers' weights (input channels, or for a Linear after a flatten
the channel's whole H*W block of columns), so nothing is reordered at run time.

Tensors whose channels must stay aligned share one order: the two inputs and the output of a
residual add, a depthwise conv's input and output, and everything between a layer and its
consumers (ReLU, pooling, flatten). Such a "channel space" is sorted by the bits of its first
layer; with per-channel gates every layer of a space has the same bits, so every group of every
layer is contiguous. If a later layer of the space has other bits (an architecture from
elsewhere), its groups are recorded as index lists instead of ranges. The network input and
the channels of grouped (non-depthwise) convs keep their original order. A channel concat is a space of
its own, ordered as its inputs' orders one after the other. The network output
is reordered like any other space; the manifest's `class_order` says which class each output
position holds (class_order[p] = original class index), so a host maps its label table once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from deploy.graph import Graph
from deploy.integer import IntLayer
from deploy.plan import Program

AFFINE_KEYS = ("sign", "bias", "multiplier", "shift")  # per-channel lists of an affine op


@dataclass(frozen=True)
class PrecisionGroup:
    bits: int
    index: tuple[int, ...]  # output channel positions (after reordering)

    @property
    def contiguous(self) -> bool:
        return self.index == tuple(range(self.index[0], self.index[0] + len(self.index)))


def _is_depthwise(layer: IntLayer) -> bool:
    return layer.groups > 1 and layer.weight.shape[1] == 1 and layer.groups == layer.weight.shape[0]


class _Spaces:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.fixed: set[str] = set()

    def add(self, name: str) -> None:
        self.parent.setdefault(name, name)

    def root(self, name: str) -> str:
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def unite(self, a: str, b: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[ra] = rb
            if ra in self.fixed:
                self.fixed.add(rb)


def channel_orders(graph: Graph, layers: dict[str, IntLayer]) -> dict[str, np.ndarray]:
    """For every graph node, its output channel order: order[p] = materialized channel at position p."""
    spaces = _Spaces()
    leader: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        if node.kind == "output":
            continue
        spaces.add(node.name)
        if node.kind == "input":
            spaces.fixed.add(node.name)
        elif node.kind == "layer":
            layer = layers[node.module]
            if _is_depthwise(layer):
                spaces.unite(node.name, node.inputs[0])
            elif layer.groups > 1:
                spaces.fixed.update({node.name, spaces.root(node.inputs[0])})
        elif node.kind == "add":
            spaces.unite(node.name, node.inputs[0])
            spaces.unite(node.name, node.inputs[1])
        elif node.kind == "concat":
            pass  # its own space, ordered as its inputs' orders one after the other (below)
        else:
            spaces.unite(node.name, node.inputs[0])
    for node in graph.nodes:  # first layer of each space decides its order
        if node.kind == "layer":
            leader.setdefault(spaces.root(node.name), layers[node.module].bits)
    orders: dict[str, np.ndarray] = {}
    joined: dict[str, np.ndarray] = {}  # space root of a concat -> its order
    for node in graph.nodes:
        if node.kind == "output":
            continue
        root = spaces.root(node.name)
        channels = node.shape[0] if len(node.shape) > 1 else _flat_channels(graph, node)
        if node.kind == "concat" and root not in joined:
            offsets = np.cumsum([0] + [graph.node(i).shape[0] for i in node.inputs])
            joined[root] = np.concatenate([orders[i] + o for i, o in zip(node.inputs, offsets, strict=False)])
        if root in joined:
            orders[node.name] = joined[root]
        elif root in spaces.fixed or root not in leader:
            orders[node.name] = np.arange(channels)
        else:
            orders[node.name] = np.argsort(leader[root], kind="stable")
    return orders


def _flat_channels(graph: Graph, node) -> int:
    """Channels of a 1-D tensor: a flatten keeps its source's channels, a linear output its features."""
    if node.kind == "flatten":
        return graph.node(node.inputs[0]).shape[0] if len(graph.node(node.inputs[0]).shape) > 1 else node.shape[0]
    return node.shape[0]


def _input_order(graph: Graph, layer_node, orders: dict[str, np.ndarray]) -> np.ndarray:
    """Order of the layer's input features (a flattened channel moves its whole H*W block)."""
    src = graph.node(layer_node.inputs[0])
    order = orders[src.name]
    features = src.shape[0] if len(src.shape) == 1 else None
    if features is not None and features != len(order):
        unit = features // len(order)
        return (order[:, None] * unit + np.arange(unit)[None, :]).ravel()
    return order


def reorder(program: Program, graph: Graph) -> tuple[Program, dict[str, list[PrecisionGroup]], np.ndarray]:
    """(program with reordered layer arrays, precision groups per layer, class order of the output)."""
    layers = {op.name: op.layer for op in program.ops if op.kind == "layer"}
    orders = channel_orders(graph, layers)
    ops, groups = [], {}
    for op in program.ops:
        if op.kind == "affine":  # per-channel constants follow the channel order
            order = orders[op.node]
            attrs = {k: ([v[i] for i in order] if k in AFFINE_KEYS else v) for k, v in op.attrs.items()}
            ops.append(replace(op, attrs=attrs))
            continue
        if op.kind != "layer":
            ops.append(op)
            continue
        node = graph.node(op.node)
        layer, out = op.layer, orders[op.node]
        w = layer.weight[out]
        if layer.groups == 1:
            w = w[:, _input_order(graph, node, orders)]
        new = replace(layer, weight=w, bits=layer.bits[out], weight_scale=layer.weight_scale[out], bias=layer.bias[out])
        ops.append(replace(op, layer=new, multiplier=op.multiplier[out], shift=op.shift[out]))
        groups[op.name] = [
            PrecisionGroup(int(b), tuple(int(i) for i in np.nonzero(new.bits == b)[0])) for b in np.unique(new.bits)
        ]
    out_node = program.tensors[program.output].node
    class_order = orders[out_node] if out_node in orders else np.arange(program.tensors[program.output].shape[0])
    return replace(program, ops=ops), groups, class_order


def reorder_layers(
    graph: Graph, layers: dict[str, IntLayer]
) -> tuple[dict[str, IntLayer], dict[str, list[PrecisionGroup]], dict[str, np.ndarray]]:
    """The same reordering applied to the integer layers directly (for flavours that plan their own program):
    (reordered layers by module, precision groups by module, channel order of every graph node)."""
    orders = channel_orders(graph, layers)
    out_layers, groups = {}, {}
    for node in graph.nodes:
        if node.kind != "layer":
            continue
        layer, out = layers[node.module], orders[node.name]
        w = layer.weight[out]
        if layer.groups == 1:
            w = w[:, _input_order(graph, node, orders)]
        new = replace(layer, weight=w, bits=layer.bits[out], weight_scale=layer.weight_scale[out], bias=layer.bias[out])
        out_layers[node.module] = new
        groups[node.module] = [
            PrecisionGroup(int(b), tuple(int(i) for i in np.nonzero(new.bits == b)[0])) for b in np.unique(new.bits)
        ]
    return out_layers, groups, orders
