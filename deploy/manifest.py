"""The deployment format: named constant arrays plus a JSON manifest that says how to run them.

Arrays (what goes to Flash; `model.h` and `model.bin` hold the same bytes):
  <layer>_w<b>   uint8, one per (layer, precision group): the group's weights packed at the
                 target's storage bits (packing.py), channel after channel in group order, each
                 channel's weights in (input channel, kh, kw) order. Bytes =
                 ceil(channels * weights_per_channel * storage_bits / 8): exactly the `size`
                 cost model's format, so their sum is the `size` cost.
  <layer>_bias   int32 per kept output channel, in units of input scale * weight scale / 2^k;
                 a kernel computes sat32((acc << k) + bias) with k = the layer's bias_frac_bits
  <layer>_mult   int32 per kept output channel (fixed-point multiplier, fixedpoint.py)
  <layer>_shift  int8 per kept output channel (right shift)
  Weights + bias + mult + shift = the `memory` cost. Per-tensor requantization constants
  (residual adds, pooling, grid conversions) are scalars in the manifest ops (and #defines in
  model.h), a few bytes per op, outside both costs.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from cost_models.activation_ram import activation_storage
from deploy.fixedpoint import INT32_MAX, INT32_MIN
from deploy.grouping import PrecisionGroup
from deploy.integer import rep_bits
from deploy.packing import pack, packed_bytes
from deploy.plan import FRAC_BITS, Program
from targets.target import Target

FORMAT = "bitgate-int/1"
META_DTYPES = {"bias": "int32", "mult": "int32", "shift": "int8"}
ROUNDING = (
    "requantize(x, m, n, lo, hi) = clamp((sat_int32(x) * m + 2^(n-1)) >> n, lo, hi): int64 product, "
    "arithmetic shift, round half up; m is an int32 multiplier, n a right shift; a layer requantizes "
    "x = (acc << bias_frac_bits) + bias"
)


def c_name(name: str, taken: set[str]) -> str:
    """A C identifier for a module path, unique among `taken`."""
    base = re.sub(r"\W", "_", name)
    base = base if base and not base[0].isdigit() else f"l_{base}"
    out, k = base, 1
    while out in taken:
        out, k = f"{base}_{k}", k + 1
    taken.add(out)
    return out


def _tensor(info) -> dict[str, Any]:
    r = info.rep
    return {
        "id": info.id,
        "shape": list(info.shape),
        "scale": r.scale,
        "lo": r.lo,
        "hi": r.hi,
        "dtype": r.dtype,
        "bits": rep_bits(r.lo, r.hi),
    }


def _group_entry(g: PrecisionGroup, storage: int, array: str, nbytes: int) -> dict[str, Any]:
    where = {"channels": [g.index[0], g.index[-1] + 1]} if g.contiguous else {"index": list(g.index)}
    return {"bits": g.bits, "storage_bits": storage, "count": len(g.index), **where, "weights": array, "bytes": nbytes}


def build_manifest(
    program: Program,
    groups: dict[str, list[PrecisionGroup]],
    class_order: np.ndarray,
    target: Target,
    input_shape: tuple[int, ...],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(manifest, arrays) for a reordered program; see module docstring."""
    arrays: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    taken: set[str] = set()
    ops = []
    for op in program.ops:
        entry: dict[str, Any] = {"op": op.kind, "name": op.name, "inputs": op.inputs, "output": op.output}
        if op.kind == "layer":
            entry.update(_layer_entry(op, groups[op.name], target, c_name(op.name, taken), arrays, kinds))
        else:
            entry.update(op.attrs)
        ops.append(entry)
    weight = sum(a.nbytes for n, a in arrays.items() if kinds[n] == "weights")
    meta = sum(a.nbytes for n, a in arrays.items() if kinds[n] != "weights")
    inp, out = program.tensors[program.input], program.tensors[program.output]
    offset, table = 0, {}
    for name, a in arrays.items():
        offset = -(-offset // 4) * 4  # 4-byte aligned in model.bin
        table[name] = {
            "kind": kinds[name],
            "dtype": str(a.dtype),
            "count": int(a.size),
            "bytes": int(a.nbytes),
            "offset": offset,
        }
        offset += a.nbytes
    manifest = {
        "format": FORMAT,
        "frac_bits": FRAC_BITS,
        "rounding": ROUNDING,
        "layout": {
            "activations": "NCHW, batch first; Conv1d tensors as (C, 1, L); zero point 0 everywhere",
            "weights": "OIHW per group (Conv1d kernels as (1, k)); linear (O, I); input order already matches "
            "the producer's channel order",
            "packing": "little-endian bit stream, value i at bits [i*s, (i+1)*s), two's complement; "
            "1-bit: 0 = +1, 1 = -1",
        },
        "target": {"name": target.name, "storage_bits": {str(k): v for k, v in target.storage_bits.items()}},
        # sub-byte activations: "byte" = one value per byte, "packed" = ceil(values * bits / 8) bytes
        "activation_storage": activation_storage(target),
        "input": {**_tensor(inp), "given_shape": list(input_shape)},
        "output": {**_tensor(out), "class_order": [int(c) for c in class_order]},
        "tensors": [_tensor(t) for t in program.tensors],
        "ops": ops,
        "arrays": table,
        "bytes": {"weights": int(weight), "metadata": int(meta), "flash": int(weight + meta)},
    }
    return manifest, arrays


def _layer_entry(op, groups: list[PrecisionGroup], target: Target, cname: str, arrays: dict, kinds: dict) -> dict:
    layer = op.layer
    w = layer.weight
    wpc = int(np.prod(w.shape[1:]))
    entries = []
    for g in groups:
        storage = target.storage(g.bits)
        name = f"{cname}_w{g.bits}"
        data = pack(w[list(g.index)].reshape(-1), storage)
        assert data.size == packed_bytes(len(g.index) * wpc, storage)
        arrays[name], kinds[name] = data, "weights"
        entries.append(_group_entry(g, storage, name, int(data.size)))
    for key, values in (("bias", layer.bias), ("mult", op.multiplier), ("shift", op.shift)):
        name = f"{cname}_{key}"
        arrays[name], kinds[name] = np.ascontiguousarray(values, dtype=META_DTYPES[key]), key
    lo, hi = op.attrs["lo"], op.attrs["hi"]
    return {
        "kind": layer.kind,
        "in_channels": int(w.shape[1] * layer.groups) if layer.kind == "conv" else int(w.shape[1]),
        "out_channels": int(w.shape[0]),
        "kernel": list(w.shape[2:]) if layer.kind == "conv" else [],
        "stride": list(layer.stride),
        "pads": list(layer.pads),
        "dilation": list(layer.dilation),
        "groups": layer.groups,
        "weights_per_channel": wpc,
        "bias_frac_bits": layer.bias_frac_bits,
        "input_scale": layer.act.scale,
        "input_bits": layer.act.bits,
        "weight_scales": [float(s) for s in layer.weight_scale],
        "precision_groups": entries,
        "bias": f"{cname}_bias",
        "multiplier": f"{cname}_mult",
        "shift": f"{cname}_shift",
        "lo": max(lo, INT32_MIN),
        "hi": min(hi, INT32_MAX),
    }
