"""The cmsis-nn flavour: the integer network as CMSIS-NN kernel calls on int8 NHWC tensors.

Every tensor is int8 with a zero point: real = (v - zero_point) * scale. A grid with levels
q in [0, 255] (post-ReLU, 8-bit) is stored as v = q - 128 (zero point -128, input_offset 128);
a signed or narrower grid keeps zero point 0. Grids come, as in the reference flavour, from the
consumers: a tensor that only feeds layers (through ReLU, clamps, pooling, flatten) is produced
on the consumer's activation grid, with ReLU / ReLU6 folded into the kernel's activation
min / max. A tensor no layer grid describes (a residual branch before its add, a tensor needed on
two grids, one whose calibrated range exceeds its consumer's grid while it also feeds an add)
gets a calibrated int8 grid (calibrate.py) and is converted per consumer.

Ops and their kernels (C in c_cmsis.py, numpy twin in cmsis_interpreter.py):
  conv     one CMSIS-NN call per precision group (2-bit weights in s4 fields), the function chosen
           by the layer's geometry (cost_models/cmsis_kernels.py): arm_convolve_1x1_s8_fast / _s4_fast
           (1x1, stride 1, no padding), arm_convolve_1x1_s8 / _s4 (strided 1x1), else arm_convolve_s8 /
           _s4; Linear layers are 1x1 convolutions over a 1x1 image (per-channel requantization,
           which arm_fully_connected_s4 does not offer); depthwise convs call
           arm_depthwise_conv_wrapper_s8 / arm_depthwise_conv_s4 on the group's gathered input
           channels. Each group's output channels are a contiguous range of the one NHWC output tensor.
  add      arm_elementwise_add_s8 (TFLite parameters, left_shift 20)
  avgpool  arm_avgpool_s8 (keeps the grid; padding is refused: CMSIS-NN does not count padded
           pixels, PyTorch does); maxpool arm_max_pool_s8
  requant  grid conversion: arm_nn_requantize per element; clamp: ReLU / ReLU6 on int8
Biases are whole int32 units of input scale * weight scale (bias_frac_bits = 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cost_models.cmsis_kernels import conv_function
from deploy.cmsis_arith import add_params, quantize_multiplier, quantize_multipliers
from deploy.cmsis_grids import Levels, calibrated, storage_bits, targets
from deploy.graph import Graph, Node
from deploy.grouping import PrecisionGroup, reorder_layers
from deploy.integer import ActGrid, IntLayer
from deploy.manifest import c_name
from deploy.packing import pack, packed_bytes
from deploy.plan import affine_params, clamp_levels
from supernet.graph import UnsupportedModelError
from targets.target import Target

FORMAT = "bitgate-cmsis/1"
FLAVOUR = "cmsis-nn"


@dataclass
class _Tensor:
    id: int
    shape: tuple[int, ...]  # NHWC without batch: (H, W, C), or (F,)
    levels: Levels
    node: str

    def entry(self) -> dict[str, Any]:
        g = self.levels
        return {
            "id": self.id,
            "shape": list(self.shape),
            "scale": g.scale,
            "zero_point": g.zero_point,
            "lo": g.lo + g.zero_point,
            "hi": g.hi + g.zero_point,
            "node": self.node,
        }


@dataclass
class _Builder:
    graph: Graph
    layers: dict[str, IntLayer]
    groups: dict[str, list[PrecisionGroup]]
    target: Target
    tensors: list[_Tensor] = field(default_factory=list)
    ops: list[dict[str, Any]] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)
    converted: dict[tuple[int, Levels], int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def tensor(self, shape: tuple[int, ...], levels: Levels, node: str) -> int:
        if not levels.fits_int8:
            raise UnsupportedModelError(f"node '{node}': grid {levels.lo}..{levels.hi} does not fit int8")
        self.tensors.append(_Tensor(len(self.tensors), tuple(shape), levels, node))
        return len(self.tensors) - 1

    def op(self, kind: str, name: str, inputs: list[int], output: int, **attrs) -> None:
        self.ops.append({"op": kind, "name": name, "inputs": inputs, "output": output, **attrs})

    def bounds(self, tid: int) -> dict[str, int]:
        g = self.tensors[tid].levels
        return {"act_min": g.lo + g.zero_point, "act_max": g.hi + g.zero_point}

    def convert(self, tid: int, req: Levels) -> int:
        src = self.tensors[tid]
        g = src.levels
        if g.scale == req.scale and g.zero_point == req.zero_point and req.lo <= g.lo and g.hi <= req.hi:
            return tid
        key = (tid, req)
        if key not in self.converted:
            out = self.tensor(src.shape, req, src.node)
            m, e = quantize_multiplier(g.scale / req.scale)
            self.op(
                "requant",
                f"{src.node}:requant{len(self.converted)}",
                [tid],
                out,
                multiplier=m,
                shift=e,
                input_offset=-g.zero_point,
                output_offset=req.zero_point,
                **self.bounds(out),
            )
            self.converted[key] = out
        return self.converted[key]

    def array(self, name: str, data: np.ndarray, kind: str) -> str:
        self.arrays[name], self.kinds[name] = data, kind
        return name


def _hwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else tuple(shape)


def _linear_columns(graph: Graph, node: Node) -> np.ndarray | None:
    """Column permutation CHW -> HWC for a Linear reading a flattened (C, H, W) tensor (None: none needed)."""
    src = graph.node(node.inputs[0])
    while src.kind in ("relu", "clamp") and len(src.shape) == 1:
        src = graph.node(src.inputs[0])
    if src.kind != "flatten":
        return None
    shape = graph.node(src.inputs[0]).shape
    if len(shape) != 3 or shape[1] * shape[2] == 1:
        return None
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


def _group_weights(layer: IntLayer, idx: list[int], depthwise: bool, columns: np.ndarray | None) -> np.ndarray:
    w = layer.weight[idx]
    if layer.kind == "linear":
        return w[:, columns] if columns is not None else w
    if depthwise:  # CMSIS-NN depthwise filter: [1, H, W, C_OUT]
        return w[:, 0].transpose(1, 2, 0)
    return w.transpose(0, 2, 3, 1)  # OIHW -> OHWI


def _layer(b: _Builder, node: Node, x: int, out: int) -> None:
    layer = b.layers[node.module]
    if layer.bias_frac_bits != 0:
        raise ValueError(f"layer {node.module!r}: the cmsis-nn flavour needs whole-unit biases (bias_frac_bits=0)")
    depthwise = (
        layer.kind == "conv"
        and layer.groups > 1
        and layer.weight.shape[1] == 1
        and layer.groups == layer.weight.shape[0]
    )
    if layer.kind == "conv" and layer.groups > 1 and not depthwise:
        raise UnsupportedModelError(f"layer {node.module!r}: grouped convolutions have no CMSIS-NN kernel here")
    gin, gout = b.tensors[x].levels, b.tensors[out].levels
    reals = layer.sum_scale / gout.scale
    if float(np.max(reals)) >= 2.0**30:
        raise UnsupportedModelError(
            f"layer {node.module!r}: requantization factor {float(np.max(reals)):.3g} is "
            "too large for CMSIS-NN's multiplier and shift"
        )
    mult, shift = quantize_multipliers(reals)
    q_in = max(abs(gin.lo), abs(gin.hi))
    worst = np.abs(layer.weight.reshape(len(reals), -1).astype(np.int64)).sum(1) * q_in + np.abs(layer.bias)
    if bool(np.any(worst * 2.0 ** np.maximum(shift, 0) >= 2**31)):
        b.notes.append(
            f"layer {node.module!r}: a requantization factor above 1 shifts the accumulator left; for "
            "extreme inputs it can overflow int32 in arm_nn_requantize (the interpreter wraps like C)"
        )
    cname = c_name(node.module, b.taken)
    kernel = [1, 1] if layer.kind == "linear" else list(layer.weight.shape[2:])
    pad, stride, dilation = [layer.pads[0], layer.pads[1]], list(layer.stride), list(layer.dilation)
    out_pixels = 1 if layer.kind == "linear" else int(np.prod(b.tensors[out].shape[:-1]))
    columns = _linear_columns(b.graph, node) if layer.kind == "linear" else None
    entries = []
    for g in b.groups[node.module]:
        if not g.contiguous:
            raise UnsupportedModelError(
                f"layer {node.module!r}: its {g.bits}-bit channels are not contiguous "
                "(channel order set by another layer); the cmsis-nn flavour needs ranges"
            )
        idx = list(g.index)
        storage = storage_bits(g.bits)
        data = pack(_group_weights(layer, idx, depthwise, columns).reshape(-1), storage)
        assert data.size == packed_bytes(len(idx) * int(np.prod(layer.weight.shape[1:])), storage)
        tag = f"{cname}_w{g.bits}"
        entries.append(
            {
                "bits": g.bits,
                "storage_bits": storage,
                "channels": [idx[0], idx[-1] + 1],
                "count": len(idx),
                "weights": b.array(tag, data, "weights"),
                "bias": b.array(f"{tag}_bias", layer.bias[idx].astype(np.int32), "bias"),
                "multiplier": b.array(f"{tag}_mult", mult[idx], "mult"),
                "shift": b.array(f"{tag}_shift", shift[idx], "shift"),
                "kernel": conv_function(storage, depthwise, kernel, stride, pad, dilation, out_pixels),
            }
        )
    in_shape, out_shape = b.tensors[x].shape, b.tensors[out].shape
    if layer.kind == "linear":
        in_hwc, out_hwc = [1, 1, int(np.prod(in_shape))], [1, 1, out_shape[0]]
    else:
        in_hwc, out_hwc = list(in_shape), list(out_shape)
    b.op(
        "conv",
        node.module,
        [x],
        out,
        linear=layer.kind == "linear",
        depthwise=depthwise,
        in_hwc=in_hwc,
        out_hwc=out_hwc,
        kernel=kernel,
        stride=stride,
        pad=pad,
        dilation=dilation,
        input_offset=-gin.zero_point,
        output_offset=gout.zero_point,
        **b.bounds(out),
        input_scale=gin.scale,
        weight_scales=[float(s) for s in layer.weight_scale],
        precision_groups=entries,
    )


def _pool_checks(node: Node) -> None:
    pads = node.attrs["pads"]
    if node.kind == "avgpool" and any(pads):
        raise UnsupportedModelError(
            f"node '{node.name}': padded average pooling: arm_avgpool_s8 does not count "
            "padded pixels, PyTorch does (count_include_pad=True)"
        )
    if node.attrs.get("ceil_mode") and node.kind == "avgpool":
        raise UnsupportedModelError(f"node '{node.name}': ceil_mode average pooling is not supported")


def build_cmsis(
    graph: Graph,
    int_layers: dict[str, IntLayer],
    out_grid: ActGrid,
    target: Target,
    ranges: dict[str, tuple[float, float]],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(manifest, arrays) of the cmsis-nn flavour (see module docstring)."""
    layers, groups, orders = reorder_layers(graph, int_layers)
    out_levels = Levels.of(out_grid)
    target_of = targets(graph, layers, out_levels, ranges)
    b = _Builder(graph, layers, groups, target)
    value: dict[str, int] = {}
    input_id = output_id = -1

    def produced(node: Node) -> Levels:
        t = target_of[node.name]
        if t is not None:
            return t
        if node.name not in ranges:
            raise UnsupportedModelError(f"node '{node.name}': no calibrated range for its int8 grid")
        return calibrated(ranges[node.name])

    for node in graph.nodes:
        ins = [value[i] for i in node.inputs]
        shape = _hwc(node.shape)
        if node.kind == "input":
            t = target_of[node.name]
            if t is None:
                first = next(u for u in graph.users(node.name) if u.kind == "layer")
                t = Levels.of(layers[first.module].act)
            value[node.name] = input_id = b.tensor(shape, t, node.name)
        elif node.kind == "layer":
            x = b.convert(ins[0], Levels.of(layers[node.module].act))
            out = b.tensor(shape, produced(node), node.name)
            _layer(b, node, x, out)
            value[node.name] = out
        elif node.kind in ("relu", "clamp"):
            g = b.tensors[ins[0]].levels
            lo, hi = clamp_levels(g.lo, g.hi, g.scale, node.attrs)
            if lo == g.lo and hi == g.hi:
                value[node.name] = ins[0]  # the producer's clamp already did it
            else:
                out = b.tensor(shape, Levels(g.scale, lo, hi), node.name)
                b.op("clamp", node.name, ins, out, **b.bounds(out))
                value[node.name] = out
        elif node.kind == "flatten":
            value[node.name] = ins[0]  # NHWC memory is already the flattened (H, W, C) vector
        elif node.kind == "maxpool":
            _pool_checks(node)
            out = b.tensor(shape, b.tensors[ins[0]].levels, node.name)
            b.op(
                "maxpool",
                node.name,
                ins,
                out,
                kernel=node.attrs["kernel"],
                stride=node.attrs["stride"],
                pad=node.attrs["pads"][:2],
                in_hwc=list(b.tensors[ins[0]].shape),
                out_hwc=list(shape),
                **b.bounds(out),
            )
            value[node.name] = out
        elif node.kind == "avgpool":
            _pool_checks(node)
            src = ins[0]  # the mean is taken on the producer's grid (clipping first would change it)
            out = b.tensor(shape, b.tensors[src].levels, node.name)
            b.op(
                "avgpool",
                node.name,
                [src],
                out,
                kernel=node.attrs["kernel"],
                stride=node.attrs["stride"],
                pad=node.attrs["pads"][:2],
                in_hwc=list(b.tensors[src].shape),
                out_hwc=list(shape),
                **b.bounds(out),
            )
            value[node.name] = out
        elif node.kind == "affine":
            src = ins[0]
            out = b.tensor(shape, produced(node), node.name)
            gi, go = b.tensors[src].levels, b.tensors[out].levels
            order = orders[node.name]
            attrs = {k: [node.attrs[k][i] for i in order] for k in ("scale", "offset")}
            b.op(
                "affine",
                node.name,
                [src],
                out,
                channels=shape[-1],
                input_offset=-gi.zero_point,
                output_offset=go.zero_point,
                **affine_params(attrs, gi.scale, go.scale, quantize_multiplier),
                **b.bounds(out),
            )
            value[node.name] = out
        elif node.kind == "concat":
            grid = produced(node)
            parts = [b.convert(t, grid) for t in ins]
            out = b.tensor(shape, grid, node.name)
            b.op(
                "concat",
                node.name,
                parts,
                out,
                channels=[b.tensors[t].shape[-1] for t in parts],
                pixels=int(np.prod(shape[:-1])),
                **b.bounds(out),
            )
            value[node.name] = out
        elif node.kind == "add":
            out = b.tensor(shape, produced(node), node.name)
            g1, g2, go = (b.tensors[i].levels for i in (*ins, out))
            b.op(
                "add",
                node.name,
                ins,
                out,
                input_1_offset=-g1.zero_point,
                input_2_offset=-g2.zero_point,
                out_offset=go.zero_point,
                size=int(np.prod(shape)),
                **add_params(g1.scale, g2.scale, go.scale),
                **b.bounds(out),
            )
            value[node.name] = out
        elif node.kind == "output":
            output_id = b.convert(ins[0], out_levels)
        else:
            raise UnsupportedModelError(f"node '{node.name}': {node.kind} has no cmsis-nn kernel")
    priced = {g.bits: target.storage(g.bits) for gs in groups.values() for g in gs if g.bits in target.storage_bits}
    b.notes = [
        f"target {target.name!r} prices {bits}-bit weights at {s} bits but CMSIS-NN stores them in "
        f"{storage_bits(bits)}-bit fields: the weight arrays exceed its `size` cost"
        for bits, s in sorted(priced.items())
        if s != storage_bits(bits)
    ]
    out_node = b.tensors[output_id].node
    class_order = orders.get(out_node, np.arange(b.tensors[output_id].shape[-1]))
    return _manifest(b, graph, input_id, output_id, class_order)


def _manifest(
    b: _Builder, graph: Graph, input_id: int, output_id: int, class_order: np.ndarray
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    offset, table = 0, {}
    for name, a in b.arrays.items():
        offset = -(-offset // 4) * 4
        table[name] = {
            "kind": b.kinds[name],
            "dtype": str(a.dtype),
            "count": int(a.size),
            "bytes": int(a.nbytes),
            "offset": offset,
        }
        offset += a.nbytes
    weight = sum(a.nbytes for n, a in b.arrays.items() if b.kinds[n] == "weights")
    meta = sum(a.nbytes for n, a in b.arrays.items() if b.kinds[n] != "weights")
    inp, out = b.tensors[input_id], b.tensors[output_id]
    manifest = {
        "format": FORMAT,
        "flavour": FLAVOUR,
        "rounding": "arm_nn_requantize (doubling high multiply, then rounding divide by 2^-shift; "
        "CMSIS_NN_USE_SINGLE_ROUNDING undefined); average pooling rounds half away from zero",
        "layout": {
            "activations": "int8 NHWC, batch first; Conv1d tensors as (1, L, C); real = (v - zero_point) * scale",
            "weights": "conv OHWI, depthwise [1, H, W, C_OUT], linear (O, I) with I in HWC order; "
            "s8 plain bytes, s4 two values per byte, first in the low nibble (2-bit weights in s4 fields)",
        },
        "target": {"name": b.target.name},
        "input": {**inp.entry(), "given_shape": list(graph.input_shape), "nchw_shape": list(graph.nodes[0].shape)},
        "output": {**out.entry(), "class_order": [int(c) for c in class_order]},
        "tensors": [t.entry() for t in b.tensors],
        "ops": b.ops,
        "arrays": table,
        "bytes": {"weights": int(weight), "metadata": int(meta), "flash": int(weight + meta)},
        "notes": b.notes,
    }
    return manifest, b.arrays
