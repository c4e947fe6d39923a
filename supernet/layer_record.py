"""One searchable layer call in the channel analysis: its LayerSpec, the group its output channels start
(or share, for a depthwise conv on one whole group), and why it keeps all its channels when it must."""

from __future__ import annotations

from torch import fx, nn

from supernet.flow import Analysis, Flow, LayerNode, UnsupportedModelError
from supernet.routing import shape_of
from supernet.spec import LayerSpec


def opaque(node: fx.Node) -> Flow | None:
    """The flow of an unsearched tensor: channels of no group."""
    shape = shape_of(node)
    return Flow.of_group(None, shape[1]) if shape is not None and len(shape) >= 2 else None


def record_layer(out: Analysis, node: fx.Node, mod: nn.Module, flow: Flow | None, bn: str | None) -> Flow | None:
    """Record a searchable conv/linear call: its spec, its channel group and the flow it reads."""
    in_shape, out_shape = shape_of(node.args[0]), shape_of(node)
    linear = isinstance(mod, nn.Linear)
    kind = type(mod).__name__
    if node.target in out.layers:
        raise UnsupportedModelError(
            f"layer '{node.target}' ({kind}) is called more than once (shared weights); "
            "each call would need its own channels and bits (exclude it with exclude=...)"
        )
    if getattr(mod, "padding_mode", "zeros") != "zeros":
        raise UnsupportedModelError(
            f"layer '{node.target}' ({kind}) uses padding_mode={mod.padding_mode!r}; "
            "only 'zeros' is supported (exclude it with exclude=...)"
        )
    tokens = linear and in_shape is not None and len(in_shape) > 2  # features on the last dim
    if linear and (in_shape is None or len(in_shape) < 2 or (tokens and out.strict)):
        raise UnsupportedModelError(
            f"layer '{node.target}' (Linear) gets a {len(in_shape or ())}-D input; only (batch, features) is "
            "supported (pass strict=False to search only its bits)"
        )
    in_channels = mod.in_features if linear else mod.in_channels
    if tokens:
        out.mark(flow, f"layer '{node.target}' (Linear) reads features on the last dim of a {len(in_shape)}-D input")
        flow = Flow.of_group(None, in_channels)
    elif flow is None or flow.block or flow.channels * flow.unit != in_channels:
        out.mark(flow, f"layer '{node.target}' ({kind}) reads its input in a layout the analysis does not follow")
        flow = Flow.of_group(None, in_channels)
    groups = 1 if linear else mod.groups
    spatial = (in_shape[1:-1], out_shape[1:-1]) if tokens else (tuple(in_shape[2:]), tuple(out_shape[2:]))
    spec = LayerSpec(
        name=node.target,
        kind="linear" if linear else "conv",
        in_channels=flow.channels,
        out_channels=mod.out_features if linear else mod.out_channels,
        kernel_size=() if linear else tuple(mod.kernel_size),
        groups=groups,
        in_unit=flow.unit,
        in_spatial=tuple(spatial[0]),
        out_spatial=tuple(spatial[1]),
        has_bias=mod.bias is not None,
        **({} if linear else _geometry(mod)),
    )
    segments = flow.segments
    own = segments[0][0] if len(segments) == 1 else None
    if spec.depthwise and own is not None and segments[0][1] == 0 and out.group_sizes[own] == flow.channels:
        group = own  # depthwise: channel c exists iff its input channel does
    else:
        group = out.new_group(spec.out_channels)
        if tokens:
            out.mark(Flow.of_group(group, 1), f"layer '{node.target}' (Linear) on a {len(in_shape)}-D input")
        elif groups > 1:  # grouped convs would need pruning per group, and a depthwise conv whose input
            why = f"layer '{node.target}' is a grouped conv (groups={groups}): its input and output channels are kept"
            if spec.depthwise:
                why = (
                    f"layer '{node.target}' is a depthwise conv on channels of several groups or a reordered "
                    "group: it keeps them all"
                )
            if spec.depthwise and any(g is None for g, _ in flow.entries):
                why = ""  # a depthwise conv on the network input: nothing to prune there by design
            out.mark(flow, why)  # is not one searched group (network input, concat) cannot drop its own
            out.mark(Flow.of_group(group, 1), why)  # channels alone: keep them all
    out.layers[node.target] = LayerNode(node.target, node.name, spec, group, flow, bn)
    return opaque(node) if tokens else Flow.of_group(group, spec.out_channels)


def _geometry(mod: nn.Module) -> dict[str, tuple[int, ...]]:
    """stride, padding (before each dim; 'same' puts the odd pixel after, as PyTorch) and dilation of a conv."""
    pad = mod.padding
    if isinstance(pad, str):
        same = pad == "same"
        pad = tuple(d * (k - 1) // 2 if same else 0 for d, k in zip(mod.dilation, mod.kernel_size, strict=True))
    return {"stride": tuple(mod.stride), "padding": tuple(pad), "dilation": tuple(mod.dilation)}
