"""Which output channels must be pruned together: channel flow through a torch.fx graph.

Every tensor with a channel dimension carries a `Flow`: the list of channel groups it is
made of, in order. A searchable layer starts a new group; a residual add unites the groups
it adds; a depthwise conv keeps its input's group; concat appends flows; flatten makes each
channel span H*W features. Groups that reach the network output, meet the network input at
an add, or pass through an op for which a zero channel does not stay zero (standalone
BatchNorm, sigmoid, x + constant) cannot be pruned. Anything else that touches channels is
refused with the node and module named.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

from torch import fx, nn

from supernet.spec import LayerSpec

SEARCHABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# Ops that map a zero channel to a zero channel and keep channel order.
_ZERO_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardtanh, nn.Tanh,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity, nn.Upsample,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)  # fmt: skip
_NONZERO_MODULES = (nn.Sigmoid, nn.Hardsigmoid, nn.Softplus) + _BN
_ZERO_FUNCS = {
    "relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "hardswish", "hardtanh", "tanh",
    "dropout", "dropout1d", "dropout2d", "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d",
    "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "interpolate", "contiguous", "clone", "mean", "sum", "amax", "max", "flatten",
    "view", "reshape", "squeeze", "unsqueeze", "neg",
}  # fmt: skip
_NONZERO_FUNCS = {"sigmoid", "hardsigmoid", "softplus", "batch_norm", "exp"}
_ADD_FUNCS = {"add", "iadd", "sub", "isub"}
_CAT_FUNCS = {"cat", "concat", "concatenate"}


class UnsupportedModelError(ValueError):
    """The model cannot be converted; the message names the node/module and why."""


@dataclass(frozen=True)
class Flow:
    """Channel layout of a tensor along dim 1: ((group or None, channels), ...) and features per channel."""

    segments: tuple[tuple[int | None, int], ...]
    unit: int = 1

    @property
    def channels(self) -> int:
        return sum(n for _, n in self.segments)

    @property
    def groups(self) -> list[int]:
        return [g for g, _ in self.segments if g is not None]


@dataclass
class LayerNode:
    name: str  # module path in the original model
    node: str  # fx node name
    spec: LayerSpec
    group: int
    in_flow: Flow
    bn: str | None = None  # module path of the BatchNorm folded into this layer


@dataclass
class Analysis:
    layers: dict[str, LayerNode] = field(default_factory=dict)
    group_sizes: dict[int, int] = field(default_factory=dict)
    unprunable: set[int] = field(default_factory=set)
    parent: dict[int, int] = field(default_factory=dict)

    def new_group(self, size: int) -> int:
        g = len(self.group_sizes)
        self.group_sizes[g], self.parent[g] = size, g
        return g

    def root(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def unite(self, a: int | None, b: int | None) -> None:
        if a is None or b is None:  # meeting an unsearchable tensor: cannot drop the channel
            self.unprunable.update(x for x in (a, b) if x is not None)
            return
        self.parent[self.root(a)] = self.root(b)

    def mark(self, flow: Flow | None) -> None:
        if flow is not None:
            self.unprunable.update(flow.groups)

    def finalize(self) -> None:
        """Replace every group id by its union-find root."""
        self.unprunable = {self.root(g) for g in self.unprunable}
        for layer in self.layers.values():
            layer.group = self.root(layer.group)
            segs = tuple((self.root(g) if g is not None else None, n) for g, n in layer.in_flow.segments)
            layer.in_flow = Flow(segs, layer.in_flow.unit)
        self.group_sizes = {g: n for g, n in self.group_sizes.items() if self.root(g) == g}


def _shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if hasattr(meta, "shape") else None


def _name(node: fx.Node) -> str:
    t = node.target
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


def _where(node: fx.Node) -> str:
    """' in module 'a.b' (Type)' for a node traced inside a submodule, else ''."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path, kind = list(stack.values())[-1]
    return f" in module '{path}' ({getattr(kind, '__name__', kind)})"


def _opaque(node: fx.Node) -> Flow | None:
    shape = _shape(node)
    return Flow(((None, shape[1]),)) if shape is not None and len(shape) >= 2 else None


def fold_batchnorms(gm: fx.GraphModule, exclude: frozenset[str] = frozenset()) -> dict[str, str]:
    """Take each BatchNorm that directly and solely follows a searchable, not excluded layer out of the graph.

    Returns {layer module path: bn module path}; the gated layer applies the BN itself.
    """
    modules = dict(gm.named_modules())
    pairs = {}
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], _BN):
            continue
        src = node.args[0]
        if (
            isinstance(src, fx.Node)
            and src.op == "call_module"
            and isinstance(modules[src.target], SEARCHABLE)
            and src.target not in exclude
            and len(src.users) == 1
        ):
            pairs[src.target] = node.target
            node.replace_all_uses_with(src)
            gm.graph.erase_node(node)
    gm.recompile()
    return pairs


def analyze(gm: fx.GraphModule, bns: dict[str, str], exclude: frozenset[str] = frozenset()) -> Analysis:
    """Walk a shape-propagated graph (see torch.fx.passes.shape_prop) and record layers and groups."""
    modules = dict(gm.named_modules())
    out = Analysis()
    flows: dict[fx.Node, Flow | None] = {}
    for node in gm.graph.nodes:
        ins = [flows.get(a) for a in node.all_input_nodes]
        tensor_ins = [f for f in ins if f is not None]
        searched = any(f.groups for f in tensor_ins)
        if node.op == "placeholder" or node.op == "get_attr":
            flows[node] = _opaque(node)
        elif node.op == "output":
            for f in tensor_ins:
                out.mark(f)  # the output layer keeps all its channels
        elif node.op == "call_module" and isinstance(modules[node.target], SEARCHABLE) and node.target not in exclude:
            flows[node] = _layer(out, node, modules[node.target], flows.get(node.args[0]), bns)
        elif node.op == "call_module":
            mod = modules[node.target]
            if isinstance(mod, _ZERO_MODULES) or isinstance(mod, nn.Flatten):
                flows[node] = _reshape(node, ins[0]) if isinstance(mod, nn.Flatten) else ins[0]
            elif isinstance(mod, _NONZERO_MODULES + SEARCHABLE) or not searched:  # an excluded layer uses all
                for f in tensor_ins:
                    out.mark(f)
                flows[node] = ins[0] if isinstance(mod, _NONZERO_MODULES) else _opaque(node)
            else:
                raise UnsupportedModelError(
                    f"cannot follow pruned channels through module '{node.target}' ({type(mod).__name__}); "
                    f"supported: conv/linear, BatchNorm, activations, pooling, add, cat, flatten "
                    f"(exclude the layers feeding it with exclude=...)"
                )
        else:
            flows[node] = _function(out, node, ins, tensor_ins, searched)
    out.finalize()
    return out


def _layer(out: Analysis, node: fx.Node, mod: nn.Module, flow: Flow | None, bns: dict[str, str]) -> Flow:
    in_shape, out_shape = _shape(node.args[0]), _shape(node)
    linear = isinstance(mod, nn.Linear)
    if node.target in out.layers:
        raise UnsupportedModelError(
            f"layer '{node.target}' ({type(mod).__name__}) is called more than once (shared weights); "
            "each call would need its own channels and bits (exclude it with exclude=...)"
        )
    if getattr(mod, "padding_mode", "zeros") != "zeros":
        raise UnsupportedModelError(
            f"layer '{node.target}' ({type(mod).__name__}) uses padding_mode={mod.padding_mode!r}; "
            "only 'zeros' is supported (exclude it with exclude=...)"
        )
    if linear and (in_shape is None or len(in_shape) != 2):
        raise UnsupportedModelError(
            f"layer '{node.target}' (Linear) gets a {len(in_shape or ())}-D input; only (batch, features) is supported"
        )
    in_channels = mod.in_features if linear else mod.in_channels
    if flow is None or flow.channels * flow.unit != in_channels:
        flow = Flow(((None, in_channels),))
    groups = 1 if linear else mod.groups
    spec = LayerSpec(
        name=node.target,
        kind="linear" if linear else "conv",
        in_channels=flow.channels,
        out_channels=mod.out_features if linear else mod.out_channels,
        kernel_size=() if linear else tuple(mod.kernel_size),
        groups=groups,
        in_unit=flow.unit,
        in_spatial=tuple(in_shape[2:]),
        out_spatial=tuple(out_shape[2:]),
        has_bias=mod.bias is not None,
    )
    if spec.depthwise and len(flow.segments) == 1 and flow.segments[0][0] is not None:
        group = flow.segments[0][0]  # depthwise: channel c exists iff its input channel does
    else:
        group = out.new_group(spec.out_channels)
        if groups > 1:  # grouped convs would need pruning per group, and a depthwise conv whose input
            out.mark(flow)  # is not one searched group (network input, concat) cannot drop its own
            out.unprunable.add(group)  # channels alone: keep them all
    out.layers[node.target] = LayerNode(node.target, node.name, spec, group, flow, bns.get(node.target))
    return Flow(((group, spec.out_channels),))


def _reshape(node: fx.Node, flow: Flow | None) -> Flow | None:
    """flatten/view/reshape: allowed as identity or as (N, C, *S) -> (N, C*prod(S))."""
    if flow is None:
        return _opaque(node)
    src, dst = _shape(node.all_input_nodes[0]), _shape(node)
    if src == dst:
        return flow
    if src and dst and len(dst) == 2 and dst[0] == src[0] and dst[1] == src[1] * math.prod(src[2:]):
        return Flow(flow.segments, flow.unit * math.prod(src[2:]))
    if not flow.groups:
        return _opaque(node)
    raise UnsupportedModelError(
        f"node '{node.name}'{_where(node)} reshapes {src} to {dst}, which mixes pruned channels; "
        "only flatten to (N, C*H*W) is supported"
    )


def _merge(out: Analysis, a: Flow, b: Flow) -> Flow:
    """Elementwise op of two tensors: channel c of both must be kept or pruned together."""
    if a.segments == b.segments:
        return a
    bounds_a = [n for _, n in a.segments]
    if bounds_a == [n for _, n in b.segments]:
        for (ga, _), (gb, _) in zip(a.segments, b.segments, strict=True):
            out.unite(ga, gb)
    else:
        out.mark(a)
        out.mark(b)
    return a if a.groups else b


def _function(out: Analysis, node: fx.Node, ins: list, tensor_ins: list[Flow], searched: bool) -> Flow | None:
    name = _name(node).rstrip("_")  # in-place variants behave like their base op
    shape = _shape(node)
    if shape is None:  # sizes, tuples, scalars: no channels to follow
        if searched and node.op == "call_function" and node.target is operator.getitem:
            where = _where(node)
            raise UnsupportedModelError(f"node '{node.name}'{where} indexes a tensor whose channels are searched")
        return None
    if name in _CAT_FUNCS:
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        dim = dim % len(shape)
        parts = tensor_ins
        if dim == 1 and len(parts) == len(node.args[0]) and len({p.unit for p in parts}) == 1:
            return Flow(tuple(s for p in parts for s in p.segments), parts[0].unit)
        if searched:
            where = _where(node)
            raise UnsupportedModelError(f"node '{node.name}'{where} concatenates searched channels along dim {dim}")
        return _opaque(node)
    channels = [f for f in tensor_ins if f.channels == shape[1]] if len(shape) >= 2 else []
    if name in _ADD_FUNCS or name in ("mul", "imul", "truediv", "div"):
        if len(channels) == 2:
            return _merge(out, channels[0], channels[1])
        if name in _ADD_FUNCS:  # x + constant or x + broadcast tensor: a zero channel would not stay zero
            for f in tensor_ins:
                out.mark(f)
        return channels[0] if channels else _opaque(node)
    if name in _ZERO_FUNCS or name in _NONZERO_FUNCS:
        if name in _NONZERO_FUNCS:
            out.mark(tensor_ins[0] if tensor_ins else None)
        first = tensor_ins[0] if tensor_ins else None
        src = _shape(node.all_input_nodes[0]) if node.all_input_nodes else None
        if first is not None and src is not None and len(src) >= 2 and len(shape) >= 2 and src[:2] == shape[:2]:
            return first  # elementwise or reduction over spatial dims
        return _reshape(node, first)
    if not searched:
        return _opaque(node)
    raise UnsupportedModelError(
        f"cannot follow pruned channels through '{_name(node)}' at node '{node.name}'{_where(node)}; "
        "supported: add, mul, cat(dim=1), flatten, activations, pooling "
        "(exclude the layers feeding it with exclude=...)"
    )

