"""The deployed network's RAM, as each flavour's C allocates it, for the RAM cost (and its glue ops).

`peak_activation_ram` must price what the exported network needs, not a guess, so its plan comes
from the exporter itself, run once per supernet (and activation bits) on the full network:

  reference  the tensors of deploy.plan.build_program, with every layer's activation grid taken from
             the supernet's quantizers: layer inputs and outputs, residual branches kept alive until
             their add, int32 ("wide") tensors feeding adds and average pools, grid conversions, the
             input copied into the arena and a flatten copied (as model.c does). Sub-byte tensors are
             packed where the target says so (params.activation_storage).
  cmsis-nn   the tensors of the cmsis-nn manifest (every tensor int8, NHWC; flatten a view; the
             caller's input read in place), plus the kernel and precision-group scratch model.c
             allocates (deploy/cmsis_scratch.py, the formulas model.c is sized with). The int8 grids
             of residual branches are calibrated on the few inputs the supernet was converted with.

A Buffer records its live interval (op indices), its elements per channel, which layer's kept
channels it holds and its bit-width (32 int32, 8 int8, else the activation bits of the layer whose
grid it is on, plus an offset: a ReLU of a signed b-bit grid holds b-1 bits of magnitude). The plan
also lists the glue ops (adds, pooling, requantization, clamps, copies; cmsis-nn: bg_infer's own prologue,
epilogue and output copy as the op "network") for the latency models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cost_models.cmsis_kernels import conv_function
from deploy.api import to_integer
from deploy.calibrate import node_ranges
from deploy.cmsis_plan import build_cmsis
from deploy.cmsis_scratch import Arith, align, avgpool_ctx_bytes, conv_ctx_bytes, ctx_terms, group_bytes
from deploy.graph import read_graph
from deploy.integer import WIDE_BITS, ActGrid, rep_bits
from deploy.plan import build_program
from deploy.ram_plan import ALIGN, first_fit
from supernet.arch import Architecture
from supernet.graph import UnsupportedModelError
from supernet.layers import ActQuant
from supernet.materialize import adopt_activation_grids, materialize
from supernet.quant import activation_levels
from supernet.spec import Buffer, DeployPlan, GlueOp, LayerChoice
from targets.registry import get_target

OUT_STUB_SCALE = 3.0517578125e-05 * 0.7071067811865476  # the int8 output grid's stand-in: no layer grid has it
KINDS = ("none", "im2col", "linear")  # ctx_terms kinds, as integers in the scratch tensors
_FAILS = (UnsupportedModelError, AttributeError, KeyError, RuntimeError, TypeError, ValueError)


def grid(act: ActQuant, bits: int) -> ActGrid:
    """The ActGrid the exporter gives a layer's input quantizer at `bits` (same float operations)."""
    signed = bool(act.signed)
    levels = activation_levels(bits, signed)
    clip = act.clip.detach().abs() + 1e-8
    return ActGrid(float(clip / levels), -levels if signed else 0, levels, bits, signed, float(clip))


def plan_buffers(
    net, act_bits: dict[str, int], flavour: str = "reference", discrete: bool = False
) -> DeployPlan | None:
    """The RAM plan of `net` deployed by `flavour` with per-layer activation bits `act_bits` (None if the
    exporter cannot handle the network). discrete: the choices are one architecture, so the plan may
    place integer buffer sizes exactly as the exporter does (`DeployPlan.place`)."""
    cache = net.__dict__.setdefault("_deploy_plans", {})
    key = (flavour, tuple(sorted(act_bits.items())))
    if key not in cache:
        try:
            cache[key] = _cmsis_plan(net, act_bits) if flavour == "cmsis-nn" else _reference_plan(net, act_bits)
        except _FAILS:
            cache[key] = None
    plan = cache[key]
    if plan is None or discrete:
        return plan
    soft = (*key, "soft")  # the same object every step, so what the RAM cost derives from it is made once
    if soft not in cache:
        cache[soft] = replace(plan, place=None)
    return cache[soft]


def place(buffers: Sequence[Buffer], sizes: list[int]) -> int:
    """Arena bytes of the exporter's first-fit placement of `buffers` with these integer sizes."""
    alive = {i: b for i, b in enumerate(buffers) if b.first >= -1}
    return first_fit(
        {i: sizes[i] for i in alive},
        {i: max(b.first, 0) for i, b in alive.items()},
        {i: b.last for i, b in alive.items()},
    )[1]


# ------------------------------------------------------------------------------- reference flavour


def _reference_plan(net, act_bits: dict[str, int]) -> DeployPlan | None:
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
    by_scale: dict[float, int] = {}
    for i, n in enumerate(names):
        by_scale.setdefault(grids[n].scale, i)
    spans: dict[int, list[int]] = {program.input: [-1, -1]}  # tensor id -> [first op, last op]
    view = {}
    for k, op in enumerate(program.ops):
        if op.kind == "flatten":  # a view: the same bytes under another shape (model.c copies nothing)
            view[op.output] = view.get(op.inputs[0], op.inputs[0])
        else:
            spans[op.output] = [k, k]
        for t in op.inputs:
            spans[view.get(t, t)][1] = k
    spans[view.get(program.output, program.output)][1] = len(program.ops)
    buffers = []
    for tid, (first, last) in spans.items():
        info = program.tensors[tid]
        src = source[info.node]
        channels = net.specs[names[src]].out_channels if src is not None else info.shape[0]
        per_channel = int(np.prod(info.shape)) // channels
        bits = rep_bits(info.rep.lo, info.rep.hi)
        on_output_grid = (info.rep.scale, info.rep.lo, info.rep.hi) == out_rep
        layer = by_scale.get(info.rep.scale) if bits != WIDE_BITS and not on_output_grid else None
        if layer is not None:
            buffers.append(Buffer(first, last, channels, per_channel, src, layer, bits - grids[names[layer]].bits))
        else:
            buffers.append(Buffer(first, last, channels, per_channel, src, None, bits))
    ops = tuple(
        _glue(op.kind, program.tensors[op.output].shape, source[program.tensors[op.output].node], net, names, op.attrs)
        for op in program.ops
        if op.kind not in ("layer", "flatten")
    )
    buffers = tuple(buffers)
    return DeployPlan("reference", buffers, ALIGN, None, lambda sizes: place(buffers, sizes), ops)


# -------------------------------------------------------------------------------- cmsis-nn flavour


def _cmsis_plan(net, act_bits: dict[str, int]) -> DeployPlan | None:
    small, example = _full_network(net, act_bits)
    im = to_integer(small, example, bias_frac_bits=0)
    ranges = {**node_ranges(small, example), **net.__dict__.get("_exported_ranges", {})}  # export's where known
    manifest, _ = build_cmsis(im.graph, im.layers, im.output, get_target("generic"), ranges)
    names = net.layer_names
    index = {n: i for i, n in enumerate(names)}
    source = _sources(im.graph, names)
    tensors = manifest["tensors"]
    inp = manifest["input"]["id"]
    spans: dict[int, list[int]] = {}
    for k, op in enumerate(manifest["ops"]):
        spans.setdefault(op["output"], [k, k])
        for t in op["inputs"]:
            if t != inp:
                spans[t][1] = k
    spans[manifest["output"]["id"]][1] = len(manifest["ops"])
    buffers = []
    for tid, (first, last) in spans.items():
        t = tensors[tid]
        src = source[t["node"]]
        values = int(np.prod(t["shape"]))
        channels = net.specs[names[src]].out_channels if src is not None else t["shape"][-1]
        buffers.append(Buffer(first, last, channels, values // channels, src, None, 8))
    convs, pools, glue = [], [], []
    for op in manifest["ops"]:
        out_src = source[tensors[op["output"]]["node"]]
        if op["op"] == "conv":
            if op["name"] not in index:
                return None
            convs.append(_ConvShape.of(op, index[op["name"]]))
        else:
            if op["op"] == "avgpool":
                pools.append((out_src, tensors[op["output"]]["shape"][-1]))
            glue.append(
                _glue(op["op"], _chw(tensors[op["output"]]["shape"]), out_src, net, names, op, len(op["inputs"]))
            )
    glue.append(GlueOp("network", net.specs[names[-1]].out_channels, 1, None))  # bg_infer itself: the output copy
    buffers = tuple(buffers)
    scratch = _CmsisScratch(tuple(convs), tuple(pools))
    return DeployPlan("cmsis-nn", buffers, ALIGN, scratch, lambda sizes: place(buffers, sizes), tuple(glue))


class _ConvShape(SimpleNamespace):
    """What the scratch of one conv op depends on besides the channel counts."""

    @classmethod
    def of(cls, op: dict[str, Any], layer: int) -> _ConvShape:
        ih, iw, _ = op["in_hwc"]
        oh, ow, _ = op["out_hwc"]
        (kh, kw), (sh, sw), (dh, dw) = op["kernel"], op["stride"], op["dilation"]
        ph = max(ih + op["pad"][0], (oh - 1) * sh + (kh - 1) * dh + 1)
        pw = max(iw + op["pad"][1], (ow - 1) * sw + (kw - 1) * dw + 1)
        return cls(
            layer=layer,
            taps=kh * kw,
            depthwise=op["depthwise"],
            padded=any(op["pad"]),
            in_pixels=ih * iw,
            out_pixels=oh * ow,
            padded_pixels=ph * pw,
            kernel=tuple(op["kernel"]),
            stride=tuple(op["stride"]),
            pad=tuple(op["pad"]),
            dilation=tuple(op["dilation"]),
        )

    def ctx_terms(self, bits: int) -> tuple[str, int, int]:
        """deploy.cmsis_scratch.ctx_terms of the call a `bits`-bit group of this conv makes."""
        storage = 8 if bits > 4 else 4
        fn = conv_function(storage, self.depthwise, self.kernel, self.stride, self.pad, self.dilation, self.out_pixels)
        return ctx_terms(fn, self.kernel, self.pad, self.dilation)


class _CmsisScratch:
    """ctx.buf + precision-group scratch of a cmsis-nn network, differentiable in the channel counts.

    One batched computation over every (conv, weight option) pair on cost_models.stacked's per-layer rows,
    with the ctx.buf and group formulas of deploy/cmsis_scratch.py: a group's conditions (is it called,
    does it hold every kept channel, is its count odd) are read off the rounded expected counts as
    tensors, so the cost reads nothing back to the host; at a discrete architecture they are the
    exporter's conditions and the bytes are model.c's.
    """

    def __init__(self, convs: tuple[_ConvShape, ...], pools: tuple[tuple[int | None, int], ...]) -> None:
        self.convs, self.pools = convs, pools
        self._constants: dict[tuple, dict[str, Tensor]] = {}

    def _tensors(self, options: tuple[int, ...], device: torch.device) -> dict[str, Tensor]:
        key = (options, device)
        if key not in self._constants:
            c = self.convs
            nonzero = [b for b in options if b > 0]
            terms = [[x.ctx_terms(b) for b in nonzero] for x in c]

            def f64(rows) -> Tensor:
                return torch.tensor(rows, dtype=torch.float64, device=device).reshape(len(c), -1)

            dw = torch.tensor([x.depthwise for x in c], device=device).unsqueeze(1)
            small = torch.tensor([b <= 4 for b in nonzero], device=device).unsqueeze(0)
            padded = torch.tensor([x.padded for x in c], device=device).unsqueeze(1)
            self._constants[key] = {
                "layers": torch.tensor([x.layer for x in c], dtype=torch.long, device=device),
                "options": torch.tensor([options.index(b) for b in nonzero], dtype=torch.long, device=device),
                "kind": torch.tensor([[KINDS.index(t[0]) for t in row] for row in terms], device=device).reshape(
                    len(c), -1
                ),
                "per_channel": f64([[t[1] for t in row] for row in terms]),
                "constant": f64([[t[2] for t in row] for row in terms]),
                "taps": f64([x.taps for x in c]),
                "dw": dw,
                "s4_padded": dw & padded & small,
                "in_pixels": f64([x.in_pixels for x in c]),
                "out_pixels": f64([x.out_pixels for x in c]),
                "padded_pixels": f64([x.padded_pixels for x in c]),
                "pool_layers": torch.tensor(
                    [-1 if s is None else s for s, _ in self.pools], dtype=torch.long, device=device
                ),
                "pool_has_layer": torch.tensor([s is not None for s, _ in self.pools], device=device),
                "pool_channels": torch.tensor([float(ch) for _, ch in self.pools], dtype=torch.float64, device=device),
            }
        return self._constants[key]

    def __call__(self, choices: Sequence[LayerChoice]) -> Tensor:
        from cost_models.common import ceil_ste
        from cost_models.stacked import stack

        s = stack(choices)
        arith = Arith(ceil_ste, torch.maximum, torch.where)
        kept_out = s.kept_out
        zero = kept_out.new_zeros(1)
        kept = torch.cat([kept_out, zero])  # index -1: a pool whose input no layer prunes
        ctx, groups = [zero], zero
        if self.convs:
            k = self._tensors(s.options, zero.device)
            n = s.mass[k["layers"]][:, k["options"]]  # (convs, non-zero options): expected channels per group
            called = n.detach() >= 0.5
            channels = torch.where(k["dw"], n, s.in_features[k["layers"]].unsqueeze(1))
            need = torch.where(
                k["kind"] == KINDS.index("im2col"),
                conv_ctx_bytes(k["taps"] * channels, arith),
                torch.maximum(k["per_channel"] * channels, k["constant"] + 0 * channels),
            )
            ctx.append(torch.where(called & (k["kind"] != KINDS.index("none")), need, 0 * need).reshape(-1))
            full = (n - kept_out[k["layers"]].unsqueeze(1)).detach().abs() < 0.5
            odd = torch.remainder(torch.round(n.detach()), 2) == 1
            groups = group_bytes(
                n, full, k["dw"], odd & k["s4_padded"], k["in_pixels"], k["out_pixels"], k["padded_pixels"], arith
            ).reshape(-1)
        if self.pools:
            k = self._tensors(s.options, zero.device)
            ctx.append(avgpool_ctx_bytes(torch.where(k["pool_has_layer"], kept[k["pool_layers"]], k["pool_channels"])))
        return align(torch.cat(ctx).max(), arith) + align(groups.max(), arith)


# ------------------------------------------------------------------------------------------ shared


def _glue(
    kind: str, out_shape: Sequence[int], src: int | None, net, names: list[str], attrs: dict, inputs: int = 1
) -> GlueOp:
    """A non-layer op: its output channels (as a layer's kept channels) and elements per channel."""
    shape = tuple(int(s) for s in out_shape)
    channels = net.specs[names[src]].out_channels if src is not None else shape[0]
    kernel = attrs.get("kernel") or (1, 1)
    return GlueOp(kind, channels, int(np.prod(shape)) // channels, src, int(np.prod(kernel)), inputs)


def _chw(shape: Sequence[int]) -> tuple[int, ...]:
    """An NHWC tensor shape (H, W, C) as (C, H, W), so channels come first as in the reference plan."""
    return (shape[-1], *shape[:-1]) if len(shape) == 3 else tuple(shape)


def _full_network(net, act_bits: dict[str, int]) -> tuple[torch.nn.Module, Tensor]:
    """The materialized network with every channel at the top bits, and inputs to calibrate it on."""
    channels = {n: s.out_channels for n, s in net.specs.items()}
    top = max(b for b in net.bits if b > 0)
    arch = Architecture(Architecture.uniform(channels, top, 8).weight_bits, dict(act_bits), {})
    small = materialize(net, arch).eval()
    sample = getattr(net, "calibration_sample", None)
    if sample is None:
        placeholder = next(n for n in net.net.graph.nodes if n.op == "placeholder")
        sample = torch.zeros(1, *placeholder.meta["tensor_meta"].shape[1:])
    param = next(small.parameters(), None)
    return small, sample.to(param.device if param is not None else "cpu")


def export_graph(net):
    """The exporter's op graph of `net` (full channels), built once per supernet; None if not exportable."""
    cached = net.__dict__.get("_export_graph", False)
    if cached is not False:
        return cached
    from supernet.network import arch_act_bits

    try:
        small, example = _full_network(net, arch_act_bits(net, None))
        graph = read_graph(small, example[:1])
    except _FAILS:
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


def price_as_exported(net, small: torch.nn.Module, calibration: Tensor) -> bool:
    """Make `net`'s deploy plans those of its materialized network `small` as `bitgate export` writes it: the
    activation clips `small` was fine-tuned to and the value ranges it shows on `calibration` (the inputs the
    export calibrates on). The cmsis-nn plan converts a tensor between grids where its calibrated range exceeds
    a consumer's grid; ranges measured on the supernet's own weights and conversion batch can say otherwise
    (a ResNet-8 search for stm32l4 priced two 16k-element requantizations fewer than its export ran). False,
    and `net` unchanged, when `small` is not `net` materialized (a method's own network)."""
    if not adopt_activation_grids(net, small):
        return False
    forget_plans(net)
    net.__dict__["_exported_ranges"] = node_ranges(small, calibration)
    return True


def forget_plans(net) -> None:
    """Drop `net`'s cached RAM plans and export graph (after its activation grids changed)."""
    net.__dict__.pop("_deploy_plans", None)
    net.__dict__.pop("_export_graph", None)
