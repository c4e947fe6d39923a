"""The materialized network as a short list of deployable ops, read from its torch.fx graph.

Everything is normalised to 2-D: a (C, L) tensor of a Conv1d network is (C, 1, L), a kernel k
is (1, k). Ops: input, layer (a FixedLayer), relu, add, avgpool, maxpool, flatten, output.
Identity and dropout (identity in eval) disappear. Anything else is refused with the fx node
and module named, before any file is written.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from supernet.fixed import FixedLayer
from supernet.graph import SEARCHABLE, UnsupportedModelError

_ALIAS_MODULES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
_ALIAS_FUNCS = {F.dropout, F.dropout1d, F.dropout2d, torch.nn.functional.alpha_dropout}
_RELU_FUNCS = {F.relu, torch.relu}
_ADD_FUNCS = {operator.add, operator.iadd, torch.add}
_FLATTEN_METHODS = {"flatten", "view", "reshape"}
_CLAMP_FUNCS = {F.relu6: (0.0, 6.0), F.hardtanh: (-1.0, 1.0), torch.clamp: (None, None), torch.clip: (None, None)}
_SMOOTH = (nn.Hardswish, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Hardsigmoid, nn.Mish, nn.ELU, nn.LeakyReLU)
_SMOOTH_FUNCS = {F.hardswish, F.silu, F.gelu, torch.sigmoid, torch.tanh, F.hardsigmoid, F.mish, F.elu, F.leaky_relu}


@dataclass
class Node:
    name: str  # fx node name
    kind: str
    inputs: list[str]
    shape: tuple[int, ...]  # without batch; (C, H, W) or (F,)
    module: str | None = None  # FixedLayer path for "layer"
    attrs: dict = field(default_factory=dict)


@dataclass
class Graph:
    nodes: list[Node]
    layers: dict[str, FixedLayer]  # module path -> layer
    input_shape: tuple[int, ...]  # as given (C, L) or (C, H, W)

    def users(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, FixedLayer) or super().is_leaf_module(m, qualname)


def _to_graph_module(model: nn.Module) -> fx.GraphModule:
    if isinstance(model, fx.GraphModule):
        return model
    return fx.GraphModule(model, _Tracer().trace(model))


def _as2d(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], 1, shape[1]) if len(shape) == 2 else tuple(shape)


def _pair(v, dims: int) -> list[int]:
    v = list(v) if isinstance(v, (tuple, list)) else [v] * dims
    return [1] + v if dims == 1 else v


def _pool_attrs(mod_or_kwargs: dict, in_shape: tuple[int, ...], out_shape: tuple[int, ...], dims: int, where: str):
    """kernel/stride/pads (2-D, pads = [top, left, bottom, right]) of a pooling op."""
    if mod_or_kwargs.get("adaptive"):
        size_in, size_out = in_shape[1:], out_shape[1:]
        if any(i % o for i, o in zip(size_in, size_out, strict=True)):
            raise UnsupportedModelError(f"{where}: adaptive pooling {size_in}->{size_out} is not a regular pool")
        kernel = [i // o for i, o in zip(size_in, size_out, strict=True)]
        return {
            "kernel": kernel,
            "stride": kernel,
            "pads": [0, 0, 0, 0],
            "count_include_pad": True,
            "global": list(size_out) == [1, 1],
        }
    ceil = bool(mod_or_kwargs.get("ceil_mode"))
    if mod_or_kwargs.get("divisor_override"):
        raise UnsupportedModelError(f"{where}: avg pool divisor_override is not supported")
    if _pair(mod_or_kwargs.get("dilation", 1), dims) != [1, 1]:
        raise UnsupportedModelError(f"{where}: dilated pooling is not supported")
    kernel = _pair(mod_or_kwargs["kernel_size"], dims)
    stride = _pair(mod_or_kwargs.get("stride") or mod_or_kwargs["kernel_size"], dims)
    pad = _pair(mod_or_kwargs.get("padding", 0), dims)
    if dims == 1:
        pad[0] = 0
    cip = mod_or_kwargs.get("count_include_pad", True)
    if not cip and any(pad):
        raise UnsupportedModelError(f"{where}: count_include_pad=False with padding is not supported")
    # ceil_mode: the last windows hang over the bottom / right edge; as extra padding (-inf for max)
    extra = [
        max((o - 1) * s + k - (i + 2 * p), 0)
        for o, s, k, i, p in zip(out_shape[1:], stride, kernel, in_shape[1:], pad, strict=True)
    ]
    if any(extra) and mod_or_kwargs.get("kind") == "avgpool":
        raise UnsupportedModelError(f"{where}: ceil_mode average pooling with partial windows is not supported")
    pads = [pad[0], pad[1], pad[0] + extra[0], pad[1] + extra[1]]
    return {
        "kernel": kernel,
        "stride": stride,
        "pads": pads,
        "count_include_pad": True,
        "ceil_mode": ceil,
        "global": list(out_shape[1:]) == [1, 1] and pad == [0, 0] and kernel == list(in_shape[1:]),
    }


def _module_kind(mod: nn.Module, node: fx.Node, shapes: dict, where: str) -> tuple[str, dict]:
    src = node.args[0] if node.args else None
    in_shape = shapes.get(src.name) if isinstance(src, fx.Node) else None
    if isinstance(mod, FixedLayer):
        return "layer", {}
    if isinstance(mod, SEARCHABLE):
        raise UnsupportedModelError(
            f"{where} is a float {type(mod).__name__}: the integer export needs every conv/linear materialized as a "
            "FixedLayer (was it excluded from the search?)"
        )
    if isinstance(mod, nn.ReLU):
        return "relu", {}
    if isinstance(mod, nn.modules.batchnorm._BatchNorm):
        if not mod.track_running_stats or mod.running_var is None:
            raise UnsupportedModelError(f"{where}: a standalone BatchNorm must use running statistics")
        a = (
            mod.weight.detach().double() if mod.affine else torch.ones(mod.num_features, dtype=torch.float64)
        ) / torch.sqrt(mod.running_var.detach().double() + mod.eps)
        beta = mod.bias.detach().double() if mod.affine else torch.zeros(mod.num_features, dtype=torch.float64)
        return "affine", {"scale": a.tolist(), "offset": (beta - mod.running_mean.detach().double() * a).tolist()}
    if isinstance(mod, nn.ReLU6):
        return "clamp", {"min": 0.0, "max": 6.0}
    if isinstance(mod, nn.Hardtanh):
        return "clamp", {"min": float(mod.min_val), "max": float(mod.max_val)}
    if isinstance(mod, _SMOOTH):
        raise UnsupportedModelError(
            f"{where}: {type(mod).__name__} has no integer kernel in the export; use ReLU, "
            "ReLU6 or Hardtanh (or keep it out of the exported network)"
        )
    if isinstance(mod, _ALIAS_MODULES):
        return "alias", {}
    if isinstance(mod, nn.Flatten):
        return "flatten", {}
    pools = {
        nn.AvgPool1d: ("avgpool", 1),
        nn.AvgPool2d: ("avgpool", 2),
        nn.MaxPool1d: ("maxpool", 1),
        nn.MaxPool2d: ("maxpool", 2),
        nn.AdaptiveAvgPool1d: ("avgpool", 1),
        nn.AdaptiveAvgPool2d: ("avgpool", 2),
    }
    if type(mod) in pools:
        kind, dims = pools[type(mod)]
        if isinstance(mod, nn.MaxPool1d | nn.MaxPool2d) and mod.return_indices:
            raise UnsupportedModelError(f"{where}: max pooling with return_indices is not supported")
        attrs = dict(vars(mod))
        attrs["adaptive"] = type(mod).__name__.startswith("Adaptive")
        attrs["kind"] = kind
        return kind, _pool_attrs(attrs, _as2d(in_shape), _as2d(shapes[node.name]), dims, where)
    raise UnsupportedModelError(
        f"{where} ({type(mod).__name__}) is not supported by the integer export; supported: FixedLayer, ReLU, "
        "add, avg/max/adaptive-avg pooling, flatten, identity, dropout"
    )


_POOL_ARGS = {
    "max": ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avg": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "adaptive": ("output_size",),
}
_POOL_FUNCS = {
    F.max_pool1d: ("maxpool", 1, "max"),
    F.max_pool2d: ("maxpool", 2, "max"),
    F.avg_pool1d: ("avgpool", 1, "avg"),
    F.avg_pool2d: ("avgpool", 2, "avg"),
    F.adaptive_avg_pool1d: ("avgpool", 1, "adaptive"),
    F.adaptive_avg_pool2d: ("avgpool", 2, "adaptive"),
}


def _pool_function_attrs(node: fx.Node, shapes: dict, where: str) -> dict:
    """Pooling attributes of F.max_pool*/avg_pool*/adaptive_avg_pool* called with constant arguments."""
    kind, dims, style = _POOL_FUNCS[node.target]
    args = dict(zip(_POOL_ARGS[style], node.args[1:], strict=False))
    args.update(node.kwargs)
    if any(isinstance(v, fx.Node) for v in args.values()):
        raise UnsupportedModelError(f"{where}: pooling arguments must be constants")
    if args.get("return_indices"):
        raise UnsupportedModelError(f"{where}: max pooling with return_indices is not supported")
    args["adaptive"], args["kind"] = style == "adaptive", kind
    src = node.args[0]
    return _pool_attrs(args, _as2d(shapes[src.name]), _as2d(shapes[node.name]), dims, where)


def _clamp_attrs(node: fx.Node, where: str) -> dict:
    """{min, max} of relu6 / hardtanh / clamp with constant bounds."""
    target = node.target
    defaults = _CLAMP_FUNCS.get(target, (None, None))
    names = ("min_val", "max_val") if target is F.hardtanh else ("min", "max")
    args = list(node.args[1:3])
    bounds = []
    for i, (name, default) in enumerate(zip(names, defaults, strict=True)):
        value = args[i] if i < len(args) else node.kwargs.get(name, default)
        if value is not None and not isinstance(value, (int, float)):
            raise UnsupportedModelError(f"{where}: clamp bounds must be constants")
        bounds.append(None if value is None else float(value))
    if target is F.relu6:
        bounds = [0.0, 6.0]
    return {
        "min": bounds[0] if bounds[0] is not None else -float("inf"),
        "max": bounds[1] if bounds[1] is not None else float("inf"),
    }


def _function_kind(node: fx.Node, where: str) -> str:
    if node.op == "call_method":
        if node.target == "relu":
            return "relu"
        if node.target in ("clamp", "clip"):
            return "clamp"
        if node.target in _FLATTEN_METHODS:
            return "flatten"
        if node.target in ("contiguous", "clone"):
            return "alias"
    elif node.target in _POOL_FUNCS:
        return _POOL_FUNCS[node.target][0]
    elif node.target in _RELU_FUNCS:
        return "relu"
    elif node.target in _CLAMP_FUNCS:
        return "clamp"
    elif node.target in _SMOOTH_FUNCS:
        raise UnsupportedModelError(
            f"{where}: {getattr(node.target, '__name__', node.target)} has no integer kernel "
            "in the export; use ReLU, ReLU6 or Hardtanh"
        )
    elif node.target in _ADD_FUNCS:
        return "add"
    elif node.target in (torch.cat, torch.concat):
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        if dim != 1:
            raise UnsupportedModelError(f"{where}: only concatenation along channels (dim=1) is supported")
        return "concat"
    elif node.target is torch.flatten:
        return "flatten"
    elif node.target in _ALIAS_FUNCS:
        return "alias"
    raise UnsupportedModelError(f"{where} is not supported by the integer export")


@torch.no_grad()
def read_graph(model: nn.Module, example_input: Tensor) -> Graph:
    """The op list of a materialized network (see module docstring); `model` must be in eval mode."""
    gm = copy.deepcopy(_to_graph_module(model)).eval()
    ShapeProp(gm).propagate(example_input[:1])
    modules = dict(gm.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}
    for node in gm.graph.nodes:
        meta = node.meta.get("tensor_meta")
        if hasattr(meta, "shape"):
            shapes[node.name] = tuple(meta.shape[1:])
    alias: dict[str, str] = {}
    nodes: list[Node] = []
    layers: dict[str, FixedLayer] = {}
    for node in gm.graph.nodes:
        where = f"node '{node.name}'" + (f" (module '{node.target}')" if node.op == "call_module" else "")
        tensor_args = [a for a in node.all_input_nodes if a.name in shapes]
        ins = [alias.get(a.name, a.name) for a in tensor_args]
        if node.op == "placeholder":
            if len(shapes.get(node.name, ())) not in (2, 3):
                raise UnsupportedModelError(f"input '{node.name}' must be (N, C, L) or (N, C, H, W)")
            nodes.append(Node(node.name, "input", [], _as2d(shapes[node.name])))
            continue
        if node.op == "output":
            if len(ins) != 1:
                raise UnsupportedModelError("the network must return exactly one tensor")
            nodes.append(Node("output", "output", ins, next(n.shape for n in nodes if n.name == ins[0])))
            continue
        if node.name not in shapes:
            if all(u.op == "call_method" and u.target in _FLATTEN_METHODS for u in node.users):
                continue  # x.size(0) feeding a view: shape arithmetic only
            raise UnsupportedModelError(f"{where} does not produce a tensor; not supported by the integer export")
        if node.op == "call_module":
            kind, attrs = _module_kind(modules[node.target], node, shapes, where)
        elif node.op in ("call_function", "call_method"):
            kind, attrs = _function_kind(node, where), {}
            if kind == "clamp":
                attrs = _clamp_attrs(node, where)
            if kind in ("avgpool", "maxpool"):
                attrs = _pool_function_attrs(node, shapes, where)
        else:
            raise UnsupportedModelError(f"{where} ({node.op}) is not supported by the integer export")
        shape = shapes[node.name]
        if kind == "concat" and len(ins) == 1:
            kind = "alias"  # torch.cat of a one-tensor list (DenseNet's first layer of a block)
        if kind == "alias":
            alias[node.name] = ins[0]
            continue
        if kind == "flatten" and (len(shape) != 1 or shape[0] != _numel(shapes[tensor_args[0].name])):
            raise UnsupportedModelError(f"{where} reshapes to {shape}; only flatten to (N, features) is supported")
        if kind == "add" and (
            len(ins) != 2
            or len(node.args) != 2
            or shapes[tensor_args[0].name] != shape
            or shapes[tensor_args[1].name] != shape
        ):
            raise UnsupportedModelError(f"{where}: only the sum of two tensors of the same shape is supported")
        if kind == "concat" and any(shapes[a.name][1:] != shape[1:] for a in tensor_args):
            raise UnsupportedModelError(f"{where}: concat needs two or more tensors of the same spatial size")
        if kind == "relu" and any(k not in ("inplace",) for k in node.kwargs):
            raise UnsupportedModelError(f"{where}: unsupported relu arguments")
        module = node.target if kind == "layer" else None
        if module is not None:
            layers[module] = modules[module]
            _check_layer(layers[module], f"layer '{module}'")
        out = shape if len(shape) == 1 else _as2d(shape)
        nodes.append(Node(node.name, kind, ins, out, module, attrs))
    return Graph(nodes, layers, tuple(example_input.shape[1:]))


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _check_layer(layer: FixedLayer, where: str) -> None:
    if layer.op.kind == "conv" and layer.op.dims not in (1, 2):
        raise UnsupportedModelError(f"{where}: only Conv1d/Conv2d/Linear are exported, not Conv{layer.op.dims}d")
    if not layer.act.enabled:
        raise UnsupportedModelError(f"{where}: activation quantization is disabled; the integer export needs it")
    if len(layer.act.options) != 1:
        raise UnsupportedModelError(f"{where}: activation bits are still searched ({layer.act.options})")
    if hasattr(layer, "codebook_values"):
        raise UnsupportedModelError(
            f"{where}: clustered (codebook) weights are not exported: no CMSIS-NN or reference "
            "kernel looks weights up in a codebook; export a uniformly quantized run instead"
        )
    if int(layer.bits.max()) > 8:
        raise UnsupportedModelError(f"{where}: weights wider than 8 bits are not exported")
    bn = layer.bn
    if bn is not None and (not isinstance(bn, nn.modules.batchnorm._BatchNorm) or not bn.track_running_stats):
        raise UnsupportedModelError(f"{where}: its BatchNorm must use running statistics")
