"""The activation buffers of the deployed network, as the exporter plans them, for the RAM cost.

`peak_activation_ram` must price what the exported network needs, not a guess: so the buffers
come from the exporter's own planner (deploy.plan.build_program) run on the network's
op graph, with every layer's activation grid taken from the supernet's quantizers. That gives
every tensor the exporter creates, in execution order: layer inputs and outputs, residual
branches kept alive until their add, int32 ("wide") tensors feeding adds and average pools,
grid conversions. Flatten is a view of its input (same buffer).

A Buffer records its live interval (op indices), its elements per channel and which layer's
kept channels it holds, and its bit-width: 32 for int32 tensors, 8 for the int8 output grid,
else the activation bits of the layer whose grid it is on (plus an offset: a ReLU of a signed
b-bit grid holds b-1 bits of magnitude). The cost model turns these into differentiable bytes.
The plan's structure follows the current argmax activation bits (or the architecture's).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from deploy.graph import read_graph
from deploy.integer import ActGrid
from deploy.plan import build_program
from supernet.arch import Architecture
from supernet.graph import UnsupportedModelError
from supernet.layers import ActQuant
from supernet.materialize import materialize
from supernet.network import arch_act_bits
from supernet.quant import activation_levels
from supernet.spec import Buffer

WIDE_BITS = 32
OUT_STUB_SCALE = 3.0517578125e-05 * 0.7071067811865476  # the int8 output grid's stand-in: no layer grid has it


def rep_bits(lo: int, hi: int) -> int:
    """Bits a tensor with integers in [lo, hi] needs: the narrowest signed/unsigned width, else 32."""
    for bits in range(1, 9):
        if (lo >= 0 and hi < 2**bits) or (-(2 ** (bits - 1)) <= lo and hi < 2 ** (bits - 1)):
            return bits
    return WIDE_BITS


def grid(act: ActQuant, bits: int):
    """The ActGrid the exporter gives a layer's input quantizer at `bits` (same float operations)."""
    signed = bool(act.signed)
    levels = activation_levels(bits, signed)
    clip = act.clip.detach().abs() + 1e-8
    return ActGrid(float(clip / levels), -levels if signed else 0, levels, bits, signed, float(clip))


def plan_buffers(net, act_bits: dict[str, int]) -> tuple[Buffer, ...] | None:
    """Buffers of `net` deployed with per-layer activation bits `act_bits`; None if it cannot be exported."""
    graph = export_graph(net)
    if graph is None:
        return None
    names = net.layer_names
    grids = {n: grid(net.layer(n).act, act_bits[n]) for n in names}
    stubs = {n: SimpleNamespace(act=grids[n], sum_scale=np.full(net.specs[n].out_channels, 1e-9)) for n in names}
    out_grid = SimpleNamespace(scale=OUT_STUB_SCALE, lo=-127, hi=127, bits=8)  # only the layers' scales matter
    program = build_program(graph, stubs, out_grid)
    out_rep = (OUT_STUB_SCALE, -127, 127)
    source = _sources(graph, names)
    by_scale = {}
    for i, n in enumerate(names):
        by_scale.setdefault(grids[n].scale, i)
    buffer_of: dict[int, int] = {program.input: 0}
    spans: list[list[int]] = [[-1, -1, program.input]]  # [first op, last op, tensor id]
    for k, op in enumerate(program.ops):
        if op.kind == "flatten":  # a view: the same bytes under another shape
            buffer_of[op.output] = buffer_of[op.inputs[0]]
        else:
            buffer_of[op.output] = len(spans)
            spans.append([k, k, op.output])
        for t in op.inputs:
            spans[buffer_of[t]][1] = k
    spans[buffer_of[program.output]][1] = len(program.ops)
    out = []
    for first, last, tid in spans:
        info = program.tensors[tid]
        src = source[info.node]
        channels = net.specs[names[src]].out_channels if src is not None else info.shape[0]
        per_channel = int(np.prod(info.shape)) // channels
        bits = rep_bits(info.rep.lo, info.rep.hi)
        on_output_grid = (info.rep.scale, info.rep.lo, info.rep.hi) == out_rep
        layer = by_scale.get(info.rep.scale) if bits != WIDE_BITS and not on_output_grid else None
        if layer is not None:
            out.append(Buffer(first, last, channels, per_channel, src, layer, bits - grids[names[layer]].bits))
        else:
            out.append(Buffer(first, last, channels, per_channel, src, None, bits))
    return tuple(out)


def export_graph(net):
    """The exporter's op graph of `net` (full channels), built once per supernet; None if not exportable."""
    cached = net.__dict__.get("_export_graph", False)
    if cached is not False:
        return cached
    channels = {n: s.out_channels for n, s in net.specs.items()}
    top = max(b for b in net.bits if b > 0)
    arch = Architecture.uniform(channels, top, 8)
    arch = Architecture(arch.weight_bits, arch_act_bits(net, None), {})
    placeholder = next(n for n in net.net.graph.nodes if n.op == "placeholder")
    try:
        example = torch.zeros(1, *placeholder.meta["tensor_meta"].shape[1:])
        small = materialize(net, arch).eval()
        graph = read_graph(small, example)
    except (UnsupportedModelError, AttributeError, KeyError, RuntimeError, TypeError, ValueError):
        graph = None
    net.__dict__["_export_graph"] = graph
    return graph


def _sources(graph, names: list[str]) -> dict[str, int | None]:
    """Graph node -> index of the layer whose output channels it carries (None: the network input)."""
    index = {n: i for i, n in enumerate(names)}
    src: dict[str, int | None] = {}
    for node in graph.nodes:
        if node.kind == "layer":
            src[node.name] = index[node.module]
        elif node.kind == "input" or not node.inputs:
            src[node.name] = None
        else:
            src[node.name] = src[node.inputs[0]]
    return src
