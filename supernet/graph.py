"""Which output channels must be pruned together: channel flow through a torch.fx graph.

Every tensor with a channel dimension carries a `Flow` (supernet/flow.py): the (group, index) of each
of its channels. A searchable layer starts a new group; a residual add unites the groups it adds; a
depthwise conv keeps its input's group; concat appends flows; flatten makes each channel span H*W
features; shuffles, chunks and slices reorder or select entries (supernet/routing.py); a product with
a sigmoid gate (squeeze-excitation) unites the gate's branch with the gated channels. Groups that
reach the network output or meet the network input at an add cannot be pruned.

Where the analysis cannot follow a channel (a permute to channels-last, LayerNorm over channels,
attention, any unknown op), the groups whose channels reach it keep all their channels (no 0-bit
option) but still get their bits searched, and `Analysis.lost` says why; with strict=True the model is
refused instead, naming the node and module.
"""

from __future__ import annotations

import operator
from dataclasses import replace

from torch import fx, nn

import supernet.routing as routing
from supernet.flow import Analysis, Flow, LayerNode, UnsupportedModelError
from supernet.layer_record import opaque, record_layer
from supernet.routing import shape_of

SEARCHABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# Ops that map a zero channel to a zero channel and keep channel order.
_ZERO_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardtanh,
    nn.Tanh,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.Identity,
    nn.Upsample,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
_DIRTY_MODULES = (nn.Sigmoid, nn.Hardsigmoid, nn.Softplus)  # zero -> a constant; no per-channel parameters
_ZERO_FUNCS = {
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "mish",
    "hardswish",
    "hardtanh",
    "tanh",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_dropout",
    "stochastic_depth",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "interpolate",
    "contiguous",
    "clone",
    "mean",
    "sum",
    "amax",
    "max",
    "neg",
}
_RESHAPE_FUNCS = {"flatten", "view", "reshape", "squeeze", "unsqueeze"}
_DIRTY_FUNCS = {"sigmoid", "hardsigmoid", "softplus", "exp"}
_ADD_FUNCS = {"add", "iadd", "sub", "isub"}
_MUL_FUNCS = {"mul", "imul"}
_DIV_FUNCS = {"truediv", "div"}
_CAT_FUNCS = {"cat", "concat", "concatenate"}
_TRANSPOSE_FUNCS = {"transpose", "permute"}
_META_FUNCS = {"size", "dim", "numel", "getattr", "_assert", "eq", "ne", "lt", "le", "gt", "ge"}  # no tensor out


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


def is_excluded(path: str, exclude: frozenset[str]) -> bool:
    """A module is excluded when its path or one of its parents' paths is listed."""
    parts = path.split(".")
    return any(".".join(parts[:i]) in exclude for i in range(1, len(parts) + 1))


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
            and not is_excluded(src.target, exclude)
            and len(src.users) == 1
        ):
            pairs[src.target] = node.target
            node.replace_all_uses_with(src)
            gm.graph.erase_node(node)
    gm.recompile()
    return pairs


def _permutation(node: fx.Node, name: str, ndim: int) -> list[int] | None:
    """The dims order of a transpose/permute node, or None when its arguments are not plain ints."""
    args = list(node.args[1:])
    if name == "transpose":
        pair = args[:2] if len(args) >= 2 else [node.kwargs.get("dim0"), node.kwargs.get("dim1")]
        if not all(isinstance(d, int) for d in pair):
            return None
        dims = list(range(ndim))
        a, b = (d % ndim for d in pair)
        dims[a], dims[b] = dims[b], dims[a]
        return dims
    given = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args or node.kwargs.get("dims", [])
    if len(given) != ndim or not all(isinstance(d, int) for d in given):
        return None
    return [d % ndim for d in given]


class _Walk:
    """One pass over the graph in topological order, filling an Analysis."""

    def __init__(self, gm: fx.GraphModule, bns: dict[str, str], exclude: frozenset[str], strict: bool) -> None:
        self.modules = dict(gm.named_modules())
        self.bns, self.exclude = bns, exclude
        self.out = Analysis(strict=strict)
        self.flows: dict[str, Flow | None] = {}
        self.parts: dict[str, list[tuple[int, int]]] = {}  # chunk/split node -> (start, size) of each piece

    def run(self, gm: fx.GraphModule) -> Analysis:
        for node in gm.graph.nodes:
            self.flows[node.name] = self.visit(node)
        self.out.finalize()
        return self.out

    def flow(self, node: object) -> Flow | None:
        return self.flows.get(node.name) if isinstance(node, fx.Node) else None

    def route(self, node: fx.Node, result: tuple[Flow | None, object]) -> Flow | None:
        flow, route = result
        if flow is None:
            return None
        if route is not None and self.flows[route.source] is not None and self.flows[route.source].groups:
            self.out.routes[node.name] = replace(route, source_flow=self.flows[route.source])
        return flow

    def visit(self, node: fx.Node) -> Flow | None:
        ins = [self.flow(a) for a in node.all_input_nodes]
        tensor_ins = [f for f in ins if f is not None]
        searched = any(f.groups for f in tensor_ins)
        out = self.out
        if node.op == "placeholder":
            return opaque(node)
        if node.op == "get_attr":
            return None  # a parameter or buffer: its shape says how it broadcasts (see _elementwise)
        if node.op == "output":
            for f in tensor_ins:
                out.mark(out.sink(f, "the network output"))  # the output layer keeps all its channels
            return None
        if node.op == "call_module":
            mod = self.modules[node.target]
            if isinstance(mod, SEARCHABLE) and not is_excluded(node.target, self.exclude):
                flow = out.sink(self.flow(node.args[0]), f"layer '{node.target}'")
                return record_layer(out, node, mod, flow, self.bns.get(node.target))
            if not searched:
                return opaque(node)
            where = f"module '{node.target}' ({type(mod).__name__})"
            if isinstance(mod, nn.Flatten):
                return self.follow(node, routing.reshape(node, ins[0]), f"{where} reshapes the channels", ins)
            if isinstance(mod, _ZERO_MODULES):
                return ins[0]
            if isinstance(mod, _DIRTY_MODULES):
                return replace(ins[0], dirty=ins[0].dirty or where)
            if isinstance(mod, nn.ChannelShuffle):
                return self.follow(node, routing.shuffle(node, ins[0], mod.groups), f"{where} on a split tensor", ins)
            if isinstance(mod, SEARCHABLE + _BN):  # an excluded layer or a standalone BN uses every channel
                kind = "excluded layer" if isinstance(mod, SEARCHABLE) else "standalone BatchNorm"
                for f in tensor_ins:
                    out.mark(f, f"feeds the {kind} '{node.target}'")
                return ins[0] if isinstance(mod, _BN) else opaque(node)
            out.cannot_follow(where, ins)
            return opaque(node)
        return self.function(node, ins, tensor_ins, searched)

    def follow(self, node: fx.Node, result: tuple, reason: str, ins: list[Flow | None]) -> Flow | None:
        flow = self.route(node, result)
        if flow is None:
            self.out.cannot_follow(reason, ins)
            return opaque(node)
        return flow

    def function(self, node: fx.Node, ins: list, tensor_ins: list[Flow], searched: bool) -> Flow | None:
        name = _name(node).rstrip("_")  # in-place variants behave like their base op
        shape = shape_of(node)
        out = self.out
        where = f"'{_name(node)}' at node '{node.name}'{_where(node)}"
        first = tensor_ins[0] if tensor_ins else None
        if name in ("chunk", "split") and first is not None and not first.block:
            sizes = routing.split_sizes(node, name, first.channels)
            if sizes is not None:
                starts = [sum(sizes[:i]) for i in range(len(sizes))]
                self.parts[node.name] = list(zip(starts, sizes, strict=True))
                return None
        if node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[0], fx.Node):
            src = node.args[0]
            if src.name in self.parts and isinstance(node.args[1], int):
                start, size = self.parts[src.name][node.args[1]]
                base = src.all_input_nodes[0]
                positions = tuple(range(start, start + size))
                return self.route(
                    node, (self.flows[base.name].select(positions), routing.Route(base.name, positions, Flow(())))
                )
            if shape is not None and first is not None and searched:
                return self.follow(node, routing.index(node, first), f"{where} indexes the channels", ins)
        if shape is None:  # sizes, tuples, scalars: no channels to follow
            if searched and name not in _META_FUNCS:
                out.cannot_follow(f"{where} returns several tensors", ins)
            return None
        if not searched:
            return opaque(node)
        if name in _CAT_FUNCS:
            return self.cat(node, shape, where)
        if name in _ADD_FUNCS | _MUL_FUNCS | _DIV_FUNCS:
            return self.elementwise(node, name, shape, where)
        if name == "channel_shuffle":
            groups = node.args[1] if len(node.args) > 1 else node.kwargs.get("groups")
            return self.follow(node, routing.shuffle(node, first, groups), f"{where} on a split tensor", ins)
        if name in _TRANSPOSE_FUNCS:
            dims = _permutation(node, name, len(shape))
            result = routing.transpose(node, first, dims) if dims is not None else (None, None)
            return self.follow(node, result, f"{where} moves the channel dim", ins)
        src = shape_of(node.all_input_nodes[0])
        if name in _ZERO_FUNCS | _DIRTY_FUNCS | _RESHAPE_FUNCS:
            if src == shape:
                flow = first  # elementwise
            elif (
                name not in _RESHAPE_FUNCS
                and not first.block
                and src
                and len(src) >= 2
                and len(shape) >= 2
                and src[:2] == shape[:2]
            ):
                flow = first  # a reduction over spatial dims
            else:
                return self.follow(node, routing.reshape(node, first), f"{where} reshapes {src} to {shape}", ins)
            return replace(flow, dirty=flow.dirty or where) if name in _DIRTY_FUNCS else flow
        out.cannot_follow(where, ins)
        return opaque(node)

    def cat(self, node: fx.Node, shape: tuple[int, ...], where: str) -> Flow | None:
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0) % len(shape)
        pieces = node.args[0]
        parts = [self.flow(p) for p in pieces]
        if dim == 1 and all(p is not None and not p.block for p in parts) and len({p.unit for p in parts}) == 1:
            parts = [self.out.sink(p, f"the concatenation at node '{node.name}'") for p in parts]
            return Flow(tuple(e for p in parts for e in p.entries), parts[0].unit)
        self.out.cannot_follow(f"{where} concatenates along dim {dim}", parts)
        return opaque(node)

    def elementwise(self, node: fx.Node, name: str, shape: tuple[int, ...], where: str) -> Flow | None:
        """add/sub/mul/div. Each tensor operand either carries the channels (its dim aligned with the
        output's dim 1 has their size) or broadcasts over them (a scalar, (N, 1, H, W), ...)."""
        out, n = self.out, shape[1] if len(shape) >= 2 else 0
        carriers: list[Flow] = []
        carrier_pos: list[int] = []  # which operands (0, 1) carry the channels
        broadcast = not all(isinstance(a, fx.Node) for a in node.args[:2])  # a Python scalar operand
        for pos, arg in enumerate(node.args[:2]):
            if not isinstance(arg, fx.Node):
                continue
            s, flow = shape_of(arg), self.flow(arg)
            k = 1 - (len(shape) - len(s)) if s is not None else -1
            if n and 0 <= k < len(s) and s[k] == n:
                carriers.append(flow if flow is not None and flow.channels == n else Flow.of_group(None, n))
                carrier_pos.append(pos)
            else:
                broadcast = True
        if not carriers:
            return opaque(node)
        if name in _ADD_FUNCS:
            if broadcast or len(carriers) == 1:
                for f in carriers:
                    out.mark(f, f"{where} adds a constant or broadcast tensor (a zero channel would not stay zero)")
                return carriers[0].clean()
            a, b = (out.sink(f, f"{where}") for f in carriers)
            return self.merge(a, b, where)
        if name in _DIV_FUNCS:
            if 1 in carrier_pos:  # a channel in the denominator: x / 0
                for f in carriers:
                    out.mark(f, f"{where} divides by a channel")
                return carriers[0].clean()
            return carriers[0]
        if len(carriers) == 1:
            return carriers[0]
        a, b = carriers
        if not out.unite_flows(a, b):  # per-channel scale: both sides lose the channel together
            constant = not a.groups or not b.groups
            why = (
                "multiplies by a per-channel tensor that is not searched"
                if constant
                else "multiplies channels that do not line up"
            )
            out.mark(a, f"{where} {why}")
            out.mark(b, f"{where} {why}")
            return a.clean()
        if a.dirty and b.dirty:
            return a
        return a.clean() if not a.dirty else b.clean()

    def merge(self, a: Flow, b: Flow, where: str) -> Flow:
        """Sum of two tensors: channel c of both must be kept or pruned together."""
        if a.entries == b.entries:
            return a
        if not self.out.unite_flows(a, b):
            meets_input = any(
                (ga is None) != (gb is None) for (ga, _), (gb, _) in zip(a.entries, b.entries, strict=True)
            )
            reason = "" if meets_input else f"{where} adds channels that do not line up"
            self.out.mark(a, reason)
            self.out.mark(b, reason)
        return a if a.groups else b


def analyze(
    gm: fx.GraphModule, bns: dict[str, str], exclude: frozenset[str] = frozenset(), strict: bool = True
) -> Analysis:
    """Walk a shape-propagated graph (see torch.fx.passes.shape_prop) and record layers and groups."""
    return _Walk(gm, bns, exclude, strict).run(gm)


__all__ = ["SEARCHABLE", "Analysis", "Flow", "LayerNode", "UnsupportedModelError", "analyze", "fold_batchnorms"]
