"""`materialize`: the physically pruned, fixed-precision network an architecture describes.

Pruned output channels are removed together with the matching input channels of every
consumer (through adds, concats and flattens), depthwise convs shrink their groups, and
each remaining channel is fake-quantized at its bits. With hard gates the supernet and
the materialized network compute the same function.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, fx, nn

from supernet.arch import Architecture
from supernet.fixed import FixedLayer
from supernet.flow import Flow
from supernet.layers import ActQuant
from supernet.network import Supernet


def _input_index(net: Supernet, name: str, kept: dict[int, list[int]]) -> list[int]:
    """Indices of the input features of layer `name` that survive (flattened channels span `unit`)."""
    info = net.info.layers[name]
    idx = _kept_positions(info.in_flow, kept)
    unit = info.in_flow.unit
    return [c * unit + u for c in idx for u in range(unit)] if unit > 1 else idx


def _kept_positions(flow: Flow, kept: dict[int, list[int]]) -> list[int]:
    """Positions of `flow`'s channels that survive; a materialized tensor holds exactly these, in order."""
    sets = {g: set(c) for g, c in kept.items()}
    return [p for p, (g, i) in enumerate(flow.entries) if g is None or i in sets[g]]


class ChannelRoute(nn.Module):
    """Output channel k = input channel index[k]: a channel shuffle, chunk or slice replayed on the
    physically pruned tensor (its sizes and order differ from the original's)."""

    def __init__(self, index: list[int]) -> None:
        super().__init__()
        self.register_buffer("index", torch.tensor(index, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        return x.index_select(1, self.index)


def _replay_routes(gm: fx.GraphModule, net: Supernet, kept: dict[int, list[int]]) -> None:
    """Replace every shuffle/chunk/slice node by a ChannelRoute on its source; the ops between them die."""
    nodes = {n.name: n for n in gm.graph.nodes}
    for i, (name, route) in enumerate(net.info.routes.items()):
        src_kept = _kept_positions(route.source_flow, kept)
        rank = {p: r for r, p in enumerate(src_kept)}
        index = [rank[p] for p in route.positions if p in rank]
        target = f"_channel_route_{i}"
        gm.add_submodule(target, ChannelRoute(index))
        with gm.graph.inserting_after(nodes[name]):
            new = gm.graph.call_module(target, (nodes[route.source],))
        old, nodes[name] = nodes[name], new  # a later route may start from this one
        old.replace_all_uses_with(new)
        _erase_dead(gm.graph, old)
    gm.recompile()


def _erase_dead(graph: fx.Graph, node: fx.Node) -> None:
    """Erase `node` if nothing uses it, then its inputs that this leaves unused (only that chain)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.users or n.op in ("placeholder", "output") or n.graph is not graph:
            continue
        inputs = n.all_input_nodes
        graph.erase_node(n)
        stack.extend(inputs)


def _slice_bn(bn: nn.Module, index: Tensor) -> nn.Module:
    new = type(bn)(
        len(index), eps=bn.eps, momentum=bn.momentum, affine=bn.affine, track_running_stats=bn.track_running_stats
    )
    state = {k: (v[index] if v.dim() == 1 else v) for k, v in bn.state_dict().items()}
    new.load_state_dict(state)
    return new.train(bn.training)


def _fixed_act(act: ActQuant, bits: int) -> ActQuant:
    new = ActQuant((bits,), enabled=act.enabled)
    with torch.no_grad():
        new.clip.copy_(act.clip)
        new.signed.copy_(act.signed)
    return new


def materialize(net: Supernet, arch: Architecture) -> nn.Module:
    """A new module (torch.fx GraphModule) with the channels and bit-widths of `arch`."""
    net.check(arch)
    kept = net.kept_channels(arch)
    gm = copy.deepcopy(net.net)
    for name, info in net.info.layers.items():
        layer = net.layer(name)
        out_idx = torch.tensor(arch.kept(name))
        w = layer.weight.detach()[out_idx]
        op = layer.op
        if info.spec.depthwise:
            op = op.with_groups(len(out_idx))
        elif op.groups == 1:
            w = w[:, torch.tensor(_input_index(net, name, kept))]
        bias = layer.bias.detach()[out_idx] if layer.bias is not None else None
        bn = _slice_bn(layer.bn, out_idx) if layer.bn is not None else None
        bits = [arch.weight_bits[name][c] for c in out_idx.tolist()]
        fixed = FixedLayer(op, w, bias, bits, _fixed_act(layer.act, arch.act_bits[name]), bn)
        parent, _, leaf = name.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, leaf, fixed)
    if net.info.routes:
        _replay_routes(gm, net, kept)
    return gm.to(net.layer(next(iter(net.info.layers))).weight.device)  # new BN/quantizer modules: net's device


def arch_param_count(net: Supernet, arch: Architecture) -> int:
    """Conv/linear weights and biases of the materialized network, computed from the architecture alone."""
    kept = net.kept_channels(arch)
    total = 0
    for name, info in net.info.layers.items():
        n_out = len(arch.kept(name))
        spec = info.spec
        per_channel = (
            spec.kernel_numel
            if spec.depthwise
            else (len(_input_index(net, name, kept)) // spec.groups * spec.kernel_numel)
        )
        total += n_out * per_channel + (n_out if spec.has_bias else 0)
    return total


@torch.no_grad()
def adopt_activation_grids(net: Supernet, small: nn.Module) -> int:
    """Give `net`'s activation quantizers the clips of its materialized, fine-tuned network `small`.

    Fine-tuning trains the PACT clips of the small network only; pricing the deployed network (its RAM
    plan and glue ops depend on which tensors share a grid) needs the clips it will be exported with.
    Layers `small` does not hold as a FixedLayer (a method's own network) keep theirs. Returns how many
    layers took new clips.
    """
    adopted = 0
    for name in net.layer_names:
        try:
            trained = small.get_submodule(name)
        except AttributeError:
            continue
        if isinstance(trained, FixedLayer):
            act = net.layer(name).act
            act.clip.copy_(trained.act.clip.detach())
            act.signed.copy_(trained.act.signed)
            adopted += 1
    return adopted
