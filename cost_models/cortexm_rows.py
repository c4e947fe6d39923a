"""The constants of the batched Cortex-M model: every call's table coefficients folded with its fixed loop counts.

latency_cortexm prices every precision group of every layer at once, as

    instructions[role, layer, option] = sum_v coef[role, layer, option, v] x value[layer, option, v]

over the products v of the counts the architecture moves (n, c, K and their floors and remainders,
cost_models/cortexm_features.py). A coefficient is the table's coefficient of a feature times the feature's
fixed counts (output pixels, taps, valid taps, ...): it depends on the layer's geometry, the option's storage
bits and the table only, so it is folded here once per network structure (glue ops: once per deploy plan),
never per step. Roles of a (layer, option) pair:

  own         the group's kernel call
  copies      its scatter into place (output pixels > 1) and, depthwise, the gather of its input channels
              (paid when another group of the layer exists)
  odd_own     an s4 depthwise group with padding and an odd channel count: the call on an explicitly
              padded input, plus model.c's `pad` copy
  odd_copies  that group's scatter
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache

import torch
from torch import Tensor

from cost_models.common import F64
from cost_models.cortexm_calls import conv_call, glue_call, layer_calls
from cost_models.cortexm_features import N_SYMBOLS, Call, fold
from cost_models.cortexm_table import LatencyTable
from cost_models.stacked import Geometry, per_structure
from supernet.spec import GlueOp

FALLBACK = {"clamp": "requant", "affine": "requant"}  # per-element loops the grid may not have produced
ROLES = ("own", "copies", "odd_own", "odd_copies")
Folded = dict[tuple[str, ...], float]  # product of counted symbols -> coefficient x fixed counts


@dataclass(frozen=True)
class ConvRows:
    """Per (layer, non-zero weight option) pair: the folded coefficients of its roles, as tensors."""

    products: tuple[tuple[str, ...], ...]  # V products of counted symbols of n, c and K (() = 1)
    once: Tensor  # (V,) bool: per-call products (no n-symbol), paid with the probability that the call happens
    coef: Tensor  # (roles, L, O', V) float64; 2 roles, or all 4 where some pair has the odd-count case
    options: Tensor  # (O',) long: the non-zero options' columns in Stacked.options
    others: Tensor  # (O', O') bool: True off the diagonal (the layer's other groups)
    taps: Tensor  # (L, 1) float64: kernel taps T (K = c x T)
    depthwise: Tensor  # (L, 1) bool: the call reads its own channels (c = n)
    odd_padded: Tensor | None  # (L, O') bool: s4 depthwise groups with padding; None: there is none


@dataclass(frozen=True)
class GlueRows:
    """Per glue op of a deploy plan that carries a layer's kept channels: its folded coefficients."""

    products: tuple[tuple[str, ...], ...]  # V products of counted symbols of E, c and K
    coef: Tensor  # (G, V) float64
    carried: Tensor  # (G, L) 0/1: the layer whose kept channels each op carries
    per_channel: Tensor  # (G,) float64: output values per channel (the op's pixels)
    fixed: float  # instructions of the ops whose channels no choice changes (source None; bg_infer itself)


def kind_of(table: LatencyTable, kind: str) -> str:
    return FALLBACK[kind] if kind not in table.kinds and FALLBACK.get(kind) in table.kinds else kind


_FOLDS: dict[tuple, Folded] = {}  # (table, kind, the call's fixed counts) -> folded features


def folded(table: LatencyTable, kind: str, call: Call) -> Folded:
    """The table's features of `kind` on `call`'s fixed counts, by product of counted symbols (made once)."""
    key = (table, kind, call.static_key())
    if key not in _FOLDS:
        _FOLDS[key] = {v: k for v, k, _ in fold(table.coefficients(kind_of(table, kind)), call)}
    return _FOLDS[key]


def _add(into: Folded, *parts: Folded) -> Folded:
    for part in parts:
        for v, k in part.items():
            into[v] = into.get(v, 0.0) + k
    return into


def _pair(table: LatencyTable, geometry: Geometry, layer: int, bits: int) -> tuple[Folded, ...]:
    """The four roles of one (layer, option) pair, folded."""
    spec = geometry.specs[layer]
    calls = layer_calls(spec, table.path)
    storage = 8 if bits > 4 else 4
    kind = calls.kinds[storage]
    call = conv_call(0.0, 0.0, **calls.geometry)  # n and c do not enter the fold
    scatter = folded(table, "scatter", call) if calls.out_pixels > 1 else {}
    own = folded(table, kind, call)
    copies = _add({}, scatter, folded(table, "gather", call) if spec.depthwise else {})
    if not (spec.depthwise and storage == 4 and calls.padded_input):
        return own, copies, {}, {}
    odd_own = _add({}, folded(table, kind, conv_call(0.0, 0.0, **calls.padded)), folded(table, "pad", call))
    return own, copies, odd_own, dict(scatter)


def _product_index(parts: Iterable[Folded]) -> dict[tuple[str, ...], int]:
    products = sorted({v for part in parts for v in part}, key=lambda v: (len(v), v))
    return {v: i for i, v in enumerate(products)}


def conv_rows(geometry: Geometry, table: LatencyTable) -> ConvRows:
    """The ConvRows of a structure on a table, built once per structure, table and device."""
    return per_structure(geometry, ("latency_cortexm", table), lambda: _conv_rows(geometry, table))


def _conv_rows(g: Geometry, table: LatencyTable) -> ConvRows:
    options = [i for i, b in enumerate(g.options) if b > 0]
    pairs = {
        (layer, o): _pair(table, g, layer, g.options[o])
        for layer, own in enumerate(g.layer_options)
        for o in options
        if g.options[o] in own
    }
    index = _product_index(part for roles in pairs.values() for part in roles)
    roles = 4 if any(parts[2] for parts in pairs.values()) else 2
    coef = [[[[0.0] * len(index) for _ in options] for _ in g.specs] for _ in range(roles)]
    odd_padded = [[False] * len(options) for _ in g.specs]
    for (layer, o), parts in pairs.items():
        col = options.index(o)
        for r, part in enumerate(parts[:roles]):
            for v, k in part.items():
                coef[r][layer][col][index[v]] = k
        odd_padded[layer][col] = bool(parts[2])
    device = g.in_unit.device
    taps = [[float(layer_calls(spec, table.path).taps)] for spec in g.specs]
    return ConvRows(
        products=tuple(index),
        once=torch.tensor([not N_SYMBOLS.intersection(v) for v in index], device=device),
        coef=torch.tensor(coef, dtype=F64, device=device).reshape(roles, g.layers, len(options), len(index)),
        options=torch.tensor(options, dtype=torch.long, device=device),
        others=~torch.eye(len(options), dtype=torch.bool, device=device),
        taps=torch.tensor(taps, dtype=F64, device=device).reshape(g.layers, 1),
        depthwise=g.depthwise.unsqueeze(1),
        odd_padded=torch.tensor(odd_padded, device=device) if roles == 4 else None,
    )


@lru_cache(maxsize=256)
def glue_rows(ops: tuple[GlueOp, ...], table: LatencyTable, layers: int, device: torch.device) -> GlueRows:
    """The GlueRows of a plan's ops for a network of `layers` layers (cached per ops, table and device)."""
    carried = [op for op in ops if op.source is not None]
    parts = [folded(table, op.kind, glue_call(0.0, op.per_channel, op.window, op.inputs)) for op in carried]
    parts = [{v: k for v, k in part.items() if not N_SYMBOLS.intersection(v)} for part in parts]  # n = 0 in glue
    index = _product_index(parts)
    coef = [[0.0] * len(index) for _ in carried]
    owner = [[0.0] * layers for _ in carried]
    for i, (op, part) in enumerate(zip(carried, parts, strict=True)):
        owner[i][op.source] = 1.0
        for v, k in part.items():
            coef[i][index[v]] = k
    with torch.inference_mode(False), torch.no_grad():
        as_tensor = lambda rows, width: torch.tensor(rows, dtype=F64, device=device).reshape(len(carried), width)  # noqa: E731
        per_channel = torch.tensor([float(op.per_channel) for op in carried], dtype=F64, device=device)
        rows = GlueRows(tuple(index), as_tensor(coef, len(index)), as_tensor(owner, layers), per_channel, 0.0)
    fixed = sum(
        _price(table, op.kind, glue_call(float(op.channels) * op.per_channel, op.per_channel, op.window, op.inputs))
        for op in ops
        if op.source is None
    )
    return replace(rows, fixed=float(fixed))


def _price(table: LatencyTable, kind: str, call: Call) -> float:
    """Instructions of one call on plain numbers (every per-call feature paid)."""
    total = 0.0
    for v, k in folded(table, kind, call).items():
        for symbol in v:
            k = k * float(call.symbol(symbol))
        total += k
    return total
