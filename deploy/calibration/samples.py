"""Measured pieces of a firmware run as latency-table samples: (kernel kind, its Call, instructions).

Every marked piece of a cmsis-nn export (model.json's "markers": one CMSIS-NN call or one glue loop) is one
sample. Its kind and loop counts come from the manifest op it belongs to, through the same functions the
latency model uses on a LayerSpec (cost_models/cortexm_calls.py), so the fit sees exactly what the model
later prices.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cost_models.cortexm_calls import conv_call, conv_kind, glue_call
from cost_models.cortexm_features import Call
from deploy.c_cmsis_ops import padded_hw, prepad

CALL_FIELDS = ("n", "c", "P", "Ho", "Wo", "Pin", "T", "V", "R", "Ppad", "E", "W", "X")


@dataclass(frozen=True)
class Sample:
    kind: str
    call: dict[str, float]  # the Call's counts (CALL_FIELDS)
    instructions: int
    where: str  # "<network>/<op name>:<what>[channels]", for messages
    geometry: dict[str, Any] | None = None  # a conv op's in_hwc, out_hwc, kernel, stride, pad, dilation

    def to_call(self) -> Call:
        return Call(**self.call)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        return cls(
            d["kind"],
            {k: float(v) for k, v in d["call"].items()},
            int(d["instructions"]),
            d["where"],
            d.get("geometry"),
        )


def _plain(call: Call) -> dict[str, float]:
    return {k: float(getattr(call, k)) for k in CALL_FIELDS}


def group_call(op: dict[str, Any], g: dict[str, Any], path: str, as_called: bool = True) -> tuple[str, Call]:
    """(kind, Call) of precision group `g`'s kernel call, with the geometry model.c passes it (as_called=False:
    the layer's own geometry, which its glue copies follow)."""
    ih, iw, ic = op["in_hwc"]
    oh, ow, _ = op["out_hwc"]
    count = g["count"]
    in_hw, pad = (ih, iw), tuple(op["pad"])
    if as_called and prepad(op, g):  # an explicitly padded copy of the input, read with padding 0
        in_hw, pad = padded_hw(op), (0, 0)
    kind = conv_kind(g["kernel"], op["kernel"], pad, op["dilation"], path, oh * ow)
    c = count if op["depthwise"] else ic
    return kind, conv_call(count, c, in_hw, (oh, ow), op["kernel"], op["stride"], pad, op["dilation"])


def glue_op_call(op: dict[str, Any], tensors: list[dict[str, Any]]) -> Call:
    """The Call of a network glue op (add, pools, requant, clamp, affine, concat)."""
    shape = tensors[op["output"]]["shape"]
    elements = math.prod(shape)
    pixels = math.prod(shape[:-1]) if len(shape) == 3 else 1
    window = math.prod(op["kernel"]) if op["op"] in ("avgpool", "maxpool") else 1
    return glue_call(elements, pixels, window, len(op["inputs"]))


def samples_of(
    manifest: dict[str, Any], markers: list[dict[str, Any]], pieces: np.ndarray, call: int, path: str, network: str
) -> list[Sample]:
    """The samples of one inference: `pieces` = instructions per marked piece, `call` = bg_infer's own."""
    ops, tensors = manifest["ops"], manifest["tensors"]
    out: list[Sample] = []
    for m, count in zip(markers[:-1], pieces.tolist(), strict=True):
        what = m["what"]
        where = f"{network}/{m['name']}:{what}" + (f"{m['channels']}" if "channels" in m else "")
        if m["op"] is None:  # the output copy, with bg_infer's prologue / epilogue
            n_out = math.prod(tensors[manifest["output"]["id"]]["shape"])
            out.append(Sample("network", _plain(glue_call(n_out)), int(count) + int(call), where))
            continue
        op = ops[m["op"]]
        if op["op"] != "conv":
            out.append(Sample(op["op"], _plain(glue_op_call(op, tensors)), int(count), where))
            continue
        g = next(g for g in op["precision_groups"] if g["channels"] == m["channels"])
        glue = what in ("scatter", "gather", "pad")
        kind, c = group_call(op, g, path, as_called=not glue)
        geometry = {k: op[k] for k in ("in_hwc", "out_hwc", "kernel", "stride", "pad", "dilation")}
        out.append(Sample(what if glue else kind, _plain(c), int(count), where, geometry))
    return out
