"""Integer reference interpreter: runs a manifest and its arrays on an integer input, in numpy.

Only integer arithmetic: activations and weights are small integers, products are summed in
int32 (numpy integer matmul, no float BLAS), requantization multiplies in int64 and shifts
(fixedpoint.requantize); the two other int64 values are an add's sum and a pooling window's sum,
both brought back to int32 (saturation, or the pool's pre-shift) before requantization.
Each layer runs one "kernel call" per precision group, unpacking that group's packed array,
exactly as a deployment would. This proves the exported integers right without hardware; it
is a reference, not fast (it works on chunks of the batch).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from deploy.fixedpoint import INT32_MIN, requantize, saturate
from deploy.packing import unpack

CHUNK = 32  # images per pass (bounds the im2col buffer)


def load(out_dir: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(manifest, arrays) from an export folder (model.json + model.bin)."""
    out_dir = Path(out_dir)
    manifest = json.loads((out_dir / "model.json").read_text())
    blob = (out_dir / "model.bin").read_bytes()
    arrays = {}
    for name, spec in manifest["arrays"].items():
        raw = blob[spec["offset"] : spec["offset"] + spec["bytes"]]
        arrays[name] = np.frombuffer(raw, dtype=np.dtype(spec["dtype"]).newbyteorder("<")).copy()
    return manifest, arrays


def quantize_input(manifest: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Float input -> integer input on the first layer's grid, exactly as the fake quantizer does
    (float32 clamp to the clip, divide by the step, round half to even)."""
    spec = manifest["input"]
    step = np.float32(spec["scale"])
    x = np.asarray(x, dtype=np.float32)
    q = np.rint(x / step)  # clamping before or after rounding agrees: the clip is hi * step
    return np.clip(q, spec["lo"], spec["hi"]).astype(np.int32)


def run(manifest: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Integer logits (N, classes), columns in the original class order (class_order undone)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"the interpreter takes integer inputs (see quantize_input), got {x.dtype}")
    spec = manifest["input"]
    if tuple(x.shape[1:]) != tuple(spec["given_shape"]):
        raise ValueError(f"input shape {tuple(x.shape[1:])} != exported {tuple(spec['given_shape'])}")
    if x.size and (x.min() < spec["lo"] or x.max() > spec["hi"]):
        raise ValueError(f"input values must lie in [{spec['lo']}, {spec['hi']}]")
    x = x.reshape((x.shape[0], *spec["shape"])).astype(np.int32)
    out_id = manifest["output"]["id"]
    outs = [_run_chunk(manifest, arrays, x[i : i + CHUNK])[out_id] for i in range(0, len(x), CHUNK)]
    y = np.concatenate(outs) if outs else np.zeros((0, *manifest["output"]["shape"]), np.int32)
    order = np.asarray(manifest["output"]["class_order"])
    logits = np.empty_like(y)
    logits[:, order] = y
    return logits


def trace(manifest: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray) -> dict[int, np.ndarray]:
    """Every tensor of the program by id (channels in the deployed order), for debugging."""
    x = np.asarray(x).reshape((len(x), *manifest["input"]["shape"])).astype(np.int32)
    return _run_chunk(manifest, arrays, x)


def peak_ram(manifest: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray) -> int:
    """Peak activation bytes the interpreter held while running one input (x[:1]), at the device's
    storage: each op's inputs, its output and every tensor still needed later, counted at the
    manifest tensor's bits ("packed": ceil(values * bits / 8) bytes; "byte": 1 byte per value up
    to 8 bits; int32: 4 bytes). Tensors are freed after their last use; a flatten is a view."""
    meter: list[int] = []
    x = np.asarray(x)[:1].reshape((1, *manifest["input"]["shape"])).astype(np.int32)
    _run_chunk(manifest, arrays, x, meter)
    return max(meter)


def _held_bytes(manifest: dict[str, Any], values: dict[int, np.ndarray], views: dict[int, int]) -> int:
    packed = manifest.get("activation_storage", "byte") == "packed"
    buffers: dict[int, tuple[int, int]] = {}
    for tid, value in values.items():  # a flatten view and the tensor it views share one buffer
        buffers.setdefault(views.get(tid, tid), (manifest["tensors"][tid]["bits"], value[0].size))
    return sum(n * 4 if bits > 8 else (-(-n * bits // 8) if packed else n) for bits, n in buffers.values())


def _run_chunk(
    manifest: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray, meter: list[int] | None = None
) -> dict[int, np.ndarray]:
    values = {manifest["input"]["id"]: x}
    ops = manifest["ops"]
    last_use = {t: k for k, op in enumerate(ops) for t in op["inputs"]}
    views: dict[int, int] = {}
    for k, op in enumerate(ops):
        ins = [values[i] for i in op["inputs"]]
        kind = op["op"]
        if kind == "layer":
            y = _layer(op, arrays, ins[0])
        elif kind == "requant":
            y = _requant(op, ins[0])
        elif kind == "add":
            y = _requant(op, saturate(ins[0].astype(np.int64) + ins[1]))
        elif kind == "avgpool":
            total = _windows(ins[0], op, pad_value=0).sum(axis=(-2, -1), dtype=np.int64)
            pre = op["pre_shift"]
            y = _requant(op, saturate((total + (1 << pre >> 1)) >> pre))
        elif kind == "maxpool":
            y = _windows(ins[0], op, pad_value=INT32_MIN).max(axis=(-2, -1))
        elif kind == "relu":
            y = np.maximum(ins[0], 0)
        elif kind == "affine":
            shape = (1, -1) + (1,) * (ins[0].ndim - 2)
            p = {k: np.asarray(op[k], dtype=np.int64).reshape(shape) for k in ("sign", "bias", "multiplier", "shift")}
            y = requantize(saturate(ins[0] * p["sign"] + p["bias"]), p["multiplier"], p["shift"], op["lo"], op["hi"])
        elif kind == "concat":
            y = np.concatenate(ins, axis=1)
        elif kind == "clamp":
            y = np.clip(ins[0], op["lo"], op["hi"])
        elif kind == "flatten":
            y = ins[0].reshape(len(ins[0]), -1)
        else:
            raise ValueError(f"unknown op {kind!r} in manifest")
        values[op["output"]] = np.asarray(y).astype(np.int32)
        if meter is not None:
            if kind == "flatten":
                views[op["output"]] = views.get(op["inputs"][0], op["inputs"][0])
            meter.append(_held_bytes(manifest, values, views))
            for t in op["inputs"]:  # free what no later op reads (the output stays for the host)
                if last_use[t] == k and t != manifest["output"]["id"]:
                    del values[t]
    return values


def _requant(op: dict[str, Any], x: np.ndarray) -> np.ndarray:
    return requantize(x, op["multiplier"], op["shift"], op["lo"], op["hi"])


def _windows(x: np.ndarray, op: dict[str, Any], pad_value: int) -> np.ndarray:
    """(N, C, OH, OW, kh, kw) view of the padded input for a pooling op or a conv."""
    top, left, bottom, right = op["pads"]
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=pad_value)
    kh, kw = op["kernel"]
    dh, dw = op.get("dilation", [1, 1])
    sh, sw = op["stride"]
    win = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return win[:, :, ::sh, ::sw, ::dh, ::dw]


def _layer(op: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    bias, mult, shift = (arrays[op[k]].astype(np.int64) for k in ("bias", "multiplier", "shift"))
    wpc = op["weights_per_channel"]
    n_out = op["out_channels"]
    out = None
    for group in op["precision_groups"]:
        idx = np.arange(*group["channels"]) if "channels" in group else np.asarray(group["index"])
        w = unpack(arrays[group["weights"]], group["storage_bits"], group["count"] * wpc).reshape(group["count"], -1)
        acc = _conv(op, x, w, idx) if op["kind"] == "conv" else x @ w.T  # int32 MACs
        shape = (1, -1) + (1,) * (acc.ndim - 2)
        total = (acc.astype(np.int64) << op["bias_frac_bits"]) + bias[idx].reshape(shape)
        y = requantize(total, mult[idx].reshape(shape), shift[idx].reshape(shape), op["lo"], op["hi"])
        if out is None:
            out = np.zeros((len(x), n_out, *acc.shape[2:]), dtype=np.int64)
        out[:, idx] = y
    return out


def _conv(op: dict[str, Any], x: np.ndarray, w: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """int32 conv for the output channels `idx` (w: their weights, (len(idx), I/groups * kh * kw))."""
    win = _windows(x, op, pad_value=0)  # (N, C, OH, OW, kh, kw)
    n, c, oh, ow, kh, kw = win.shape
    groups = op["groups"]
    per_in, per_out = c // groups, op["out_channels"] // groups
    if per_in == 1 and per_out == 1:  # depthwise
        return np.einsum("nchwij,cij->nchw", win[:, idx], w.reshape(len(idx), kh, kw).astype(np.int32))
    acc = np.empty((n, len(idx), oh, ow), dtype=np.int32)
    for g in np.unique(idx // per_out):
        sel = np.nonzero(idx // per_out == g)[0]
        part = win[:, g * per_in : (g + 1) * per_in]
        cols = part.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, per_in * kh * kw)
        res = cols @ w[sel].T.astype(np.int32)
        acc[:, sel] = res.reshape(n, oh, ow, len(sel)).transpose(0, 3, 1, 2)
    return acc


__all__ = ["load", "peak_ram", "quantize_input", "run", "trace"]
