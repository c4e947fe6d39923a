"""Integer program: which grid every tensor lives on, and the requantizations between grids.

The fake-quantized network is float everywhere except at the input quantizer of each layer.
The integer program reproduces it up to rounding ties by giving every tensor a representation
`Rep(scale, lo, hi)`: integers q in [lo, hi] standing for q * scale.

- A tensor that only feeds layers (through ReLU, max pool, flatten, which commute with a
  monotone quantizer) is produced directly on the consumers' activation grid, clamped to it
  (a ReLU becomes lo = 0 of the clamp): the usual int8 (or uint8, or sub-byte values in a byte)
  tensor of CMSIS-NN / PULP-NN.
- A tensor feeding a residual add or an average pool is "wide": int32 on the consumer's grid
  with FRAC_BITS extra fractional bits (scale = consumer step / 2^FRAC_BITS). Both branches of an
  add are requantized to that common grid, added with int32 saturation, and rounded once to the
  consumer's grid, so the add rounds like the float model (which adds unrounded branches) except
  within 2^-FRAC_BITS of a tie. The average pool sums its window in int64, shifts the sum right by
  ceil(log2(window)) bits (the mean keeps its 2^-FRAC_BITS resolution, and the multiply cannot
  overflow), then requantizes once.
- A tensor needed on several different grids is produced wide and converted per consumer.
- The network output is requantized to int8 (DEFAULT_OUTPUT_ACT_BITS) on a symmetric grid
  whose clip is the largest |logit| seen on the calibration input.

All roundings are round-half-up fixed-point (see fixedpoint.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deploy.fixedpoint import INT32_MAX, INT32_MIN, quantize_multiplier, quantize_multipliers
from deploy.graph import Graph, Node
from deploy.integer import ActGrid, IntLayer

FRAC_BITS = 16  # wide tensors: 2^31 / (255 * 2^16) = 128x an 8-bit consumer's clip before saturation


@dataclass(frozen=True)
class Rep:
    scale: float
    lo: int
    hi: int

    @property
    def dtype(self) -> str:
        if self.lo >= 0 and self.hi <= 255:
            return "uint8"
        if self.lo >= -128 and self.hi <= 127:
            return "int8"
        return "int32"

    def fine(self) -> float:
        """Scale of the wide (int32) version of this grid."""
        return self.scale / 2**FRAC_BITS if self.dtype != "int32" else self.scale

    @classmethod
    def of(cls, grid: ActGrid) -> Rep:
        return cls(grid.scale, grid.lo, grid.hi)

    @classmethod
    def wide(cls, scale: float, lo: int = INT32_MIN) -> Rep:
        return cls(scale, lo, INT32_MAX)


@dataclass
class TensorInfo:
    id: int
    shape: tuple[int, ...]
    rep: Rep
    node: str  # graph node whose value this tensor holds


@dataclass
class Op:
    kind: str  # layer, requant, add, avgpool, maxpool, relu, flatten
    name: str
    inputs: list[int]
    output: int
    attrs: dict = field(default_factory=dict)  # JSON-able: multiplier/shift/lo/hi, pooling geometry
    layer: IntLayer | None = None
    node: str = ""  # graph node (layers: for channel ordering)
    multiplier: np.ndarray | None = None  # per output channel (layers)
    shift: np.ndarray | None = None


@dataclass
class Program:
    tensors: list[TensorInfo]
    ops: list[Op]
    input: int
    output: int
    frac_bits: int = FRAC_BITS


def affine_params(attrs: dict, s_in: float, s_out: float, quantize) -> dict:
    """Per-channel integers of y = a_c * x + b_c (a standalone BatchNorm) from a grid of s_in to s_out:
    y = requantize(sign_c * x + bias_c, mult_c, shift_c), bias_c in units u_c = |a_c| * s_in (a channel
    with a_c = 0 is the constant b_c, in units of s_out / 2^16)."""
    sign, bias, mult, shift = [], [], [], []
    for a, off in zip(attrs["scale"], attrs["offset"], strict=True):
        unit = abs(a) * s_in if a != 0 else s_out / 2**16
        m, n = quantize(unit / s_out)
        sign.append(int(np.sign(a)))
        bias.append(int(np.clip(round(off / unit), INT32_MIN, INT32_MAX)))
        mult.append(int(m))
        shift.append(int(n))
    return {"sign": sign, "bias": bias, "multiplier": mult, "shift": shift}


def clamp_levels(lo: int, hi: int, scale: float, attrs: dict) -> tuple[int, int]:
    """Levels [lo, hi] on a grid of `scale` after a clamp node ({min, max} reals; a ReLU is min 0):
    round(clamp(x, min, max) / scale) == clamp(round(x / scale), round(min / scale), round(max / scale))."""
    mn, mx = attrs.get("min", 0.0), attrs.get("max", float("inf"))
    if mn != -float("inf"):
        lo = max(lo, int(round(mn / scale)))
    if mx != float("inf"):
        hi = min(hi, int(round(mx / scale)))
    return lo, max(lo, hi)


def _merge(prefs: list[Rep]) -> Rep:
    if len(set(prefs)) == 1:
        return prefs[0]
    if len({p.scale for p in prefs}) == 1:
        return Rep(prefs[0].scale, min(p.lo for p in prefs), max(p.hi for p in prefs))
    return Rep.wide(min(p.fine() for p in prefs))


def _targets(graph: Graph, layers: dict[str, IntLayer], out: Rep) -> dict[str, Rep]:
    """Backward pass: the representation each node's output should be produced in."""
    target: dict[str, Rep] = {}

    def pref(user: Node) -> Rep:
        if user.kind == "layer":
            return Rep.of(layers[user.module].act)
        if user.kind == "output":
            return out
        t = target[user.name]
        if user.kind == "relu":
            return Rep(t.scale, max(t.lo, 0), max(t.hi, 0))
        if user.kind == "clamp":
            return Rep(t.scale, *clamp_levels(t.lo, t.hi, t.scale, user.attrs))
        if user.kind in ("add", "avgpool"):
            return Rep.wide(t.fine())
        if user.kind == "concat":
            return t
        if user.kind == "affine":
            return Rep.wide(t.fine())
        return t  # maxpool, flatten

    for node in reversed(graph.nodes):
        if node.kind == "output":
            continue
        prefs = [pref(u) for u in graph.users(node.name)]
        if not prefs:
            raise ValueError(f"node '{node.name}' has no users")
        target[node.name] = _merge(prefs)
    return target


class _Builder:
    def __init__(self) -> None:
        self.tensors: list[TensorInfo] = []
        self.ops: list[Op] = []
        self._converted: dict[tuple[int, Rep], int] = {}

    def tensor(self, shape: tuple[int, ...], rep: Rep, node: str) -> int:
        self.tensors.append(TensorInfo(len(self.tensors), tuple(shape), rep, node))
        return len(self.tensors) - 1

    def rescale(
        self,
        kind: str,
        name: str,
        inputs: list[int],
        rep: Rep,
        real: float,
        node: str,
        shape: tuple[int, ...] | None = None,
        **attrs,
    ) -> int:
        m, n = quantize_multiplier(real)
        out = self.tensor(shape or self.tensors[inputs[0]].shape, rep, node)
        attrs.update(multiplier=m, shift=n, lo=rep.lo, hi=rep.hi)
        self.ops.append(Op(kind, name, inputs, out, attrs, node=node))
        return out

    def convert(self, tid: int, req: Rep) -> int:
        """`tid` in representation `req` (no op if its grid already fits)."""
        info = self.tensors[tid]
        r = info.rep
        if r.scale == req.scale and req.lo <= r.lo and r.hi <= req.hi:
            return tid
        key = (tid, req)
        if key not in self._converted:
            name = f"{info.node}:requant{len(self._converted)}"
            self._converted[key] = self.rescale("requant", name, [tid], req, r.scale / req.scale, info.node)
        return self._converted[key]


def build_program(graph: Graph, layers: dict[str, IntLayer], out_grid: ActGrid) -> Program:
    """The integer program of `graph` (see module docstring); channels in materialized order."""
    out_rep = Rep.of(out_grid)
    target = _targets(graph, layers, out_rep)
    b = _Builder()
    value: dict[str, int] = {}
    input_id = output_id = -1
    for node in graph.nodes:
        ins = [value[i] for i in node.inputs]
        if node.kind == "input":
            rep = target[node.name]
            if rep.dtype == "int32":
                first = next(u for u in graph.users(node.name) if u.kind == "layer")
                rep = Rep.of(layers[first.module].act)
            value[node.name] = input_id = b.tensor(node.shape, rep, node.name)
        elif node.kind == "layer":
            layer = layers[node.module]
            x = b.convert(ins[0], Rep.of(layer.act))
            rep = target[node.name]
            mult, shift = quantize_multipliers(layer.sum_scale / rep.scale)
            out = b.tensor(node.shape, rep, node.name)
            attrs = {"lo": rep.lo, "hi": rep.hi}
            b.ops.append(Op("layer", node.module, [x], out, attrs, layer, node.name, mult, shift))
            value[node.name] = out
        elif node.kind == "relu":
            rep = b.tensors[ins[0]].rep
            if rep.lo >= 0:
                value[node.name] = ins[0]  # already clamped at 0 by its producer
            else:
                out = b.tensor(node.shape, Rep(rep.scale, 0, max(rep.hi, 0)), node.name)
                b.ops.append(Op("relu", node.name, ins, out, node=node.name))
                value[node.name] = out
        elif node.kind == "clamp":
            rep = b.tensors[ins[0]].rep
            lo, hi = clamp_levels(rep.lo, rep.hi, rep.scale, node.attrs)
            if (lo, hi) == (rep.lo, rep.hi):
                value[node.name] = ins[0]  # its producer already clamps there
            else:
                out = b.tensor(node.shape, Rep(rep.scale, lo, hi), node.name)
                b.ops.append(Op("clamp", node.name, ins, out, {"lo": lo, "hi": hi}, node=node.name))
                value[node.name] = out
        elif node.kind in ("maxpool", "flatten"):
            out = b.tensor(node.shape, b.tensors[ins[0]].rep, node.name)
            b.ops.append(Op(node.kind, node.name, ins, out, dict(node.attrs), node=node.name))
            value[node.name] = out
        elif node.kind == "add":
            rep = target[node.name]
            wide = Rep.wide(rep.fine())
            pair = [b.convert(t, wide) for t in ins]
            value[node.name] = b.rescale("add", node.name, pair, rep, wide.scale / rep.scale, node.name)
        elif node.kind == "affine":
            rep = target[node.name]
            src = b.convert(ins[0], Rep.wide(rep.fine()))
            out = b.tensor(node.shape, rep, node.name)
            attrs = affine_params(node.attrs, b.tensors[src].rep.scale, rep.scale, quantize_multiplier)
            b.ops.append(Op("affine", node.name, [src], out, {**attrs, "lo": rep.lo, "hi": rep.hi}, node=node.name))
            value[node.name] = out
        elif node.kind == "concat":
            rep = target[node.name]
            parts = [b.convert(t, rep) for t in ins]
            out = b.tensor(node.shape, rep, node.name)
            b.ops.append(Op("concat", node.name, parts, out, node=node.name))
            value[node.name] = out
        elif node.kind == "avgpool":
            rep = target[node.name]
            wide = Rep.wide(rep.fine())
            src = b.convert(ins[0], wide)
            divisor = int(np.prod(node.attrs["kernel"]))
            pre = max(divisor - 1, 0).bit_length()  # ceil(log2(divisor))
            geometry = {k: node.attrs[k] for k in ("kernel", "stride", "pads")}
            real = wide.scale * 2**pre / (divisor * rep.scale)
            value[node.name] = b.rescale(
                "avgpool",
                node.name,
                [src],
                rep,
                real,
                node.name,
                node.shape,
                divisor=divisor,
                pre_shift=pre,
                **geometry,
            )
        elif node.kind == "output":
            output_id = b.convert(ins[0], out_rep)
        else:
            raise ValueError(f"unknown node kind {node.kind!r}")
    return Program(b.tensors, b.ops, input_id, output_id)
