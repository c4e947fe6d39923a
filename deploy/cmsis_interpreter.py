"""numpy twin of the cmsis-nn flavour: what the CMSIS-NN kernels compute, bit for bit.

Runs a cmsis-nn manifest (cmsis_plan.py) on int8 NHWC inputs. Accumulation is exact integer
arithmetic (the kernels' int32 sums of (v + input_offset) * w plus the bias), requantization is
cmsis_arith.requantize (arm_nn_requantize), the add follows arm_elementwise_add_s8 step by step
and the average pool arm_avgpool_s8's rounding. Every layer runs one call per precision group,
unpacking that group's s8 / s4 array, and writes its channel range of the output tensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from deploy.cmsis_arith import avg_divide, requantize
from deploy.packing import unpack

CHUNK = 32


def quantize_input(manifest: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Float NCHW (or NCL) input -> the int8 NHWC tensor bg_infer takes (fake quantizer's rounding)."""
    spec = manifest["input"]
    x = np.asarray(x, dtype=np.float32)
    q = np.rint(x / np.float32(spec["scale"])) + spec["zero_point"]
    q = np.clip(q, spec["lo"], spec["hi"]).astype(np.int8)
    q = q.reshape((len(q), *spec["nchw_shape"]))
    return np.ascontiguousarray(q.transpose(0, 2, 3, 1))


def run(manifest: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray, deployed_order: bool = False):
    """int8 outputs (N, classes) for int8 NHWC inputs; columns in the original class order unless
    deployed_order (the order bg_infer writes)."""
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError(f"the cmsis-nn interpreter takes int8 NHWC inputs (see quantize_input), got {x.dtype}")
    spec = manifest["input"]
    if tuple(x.shape[1:]) != tuple(spec["shape"]):
        raise ValueError(f"input shape {tuple(x.shape[1:])} != exported NHWC {tuple(spec['shape'])}")
    out_id = manifest["output"]["id"]
    outs = [_run_chunk(manifest, arrays, x[i : i + CHUNK].astype(np.int64))[out_id] for i in range(0, len(x), CHUNK)]
    y = np.concatenate(outs).reshape(len(x), -1).astype(np.int8)
    if deployed_order:
        return y
    logits = np.empty_like(y)
    logits[:, np.asarray(manifest["output"]["class_order"])] = y
    return logits


def _run_chunk(manifest: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray) -> dict[int, np.ndarray]:
    values = {manifest["input"]["id"]: x}
    for op in manifest["ops"]:
        ins = [values[i] for i in op["inputs"]]
        kind = op["op"]
        if kind == "conv":
            y = _conv(op, arrays, ins[0])
        elif kind == "requant":
            y = requantize(ins[0] + op["input_offset"], op["multiplier"], op["shift"]) + op["output_offset"]
        elif kind == "clamp":
            y = ins[0]
        elif kind == "affine":  # per channel (last axis): sign * (v - zp_in) + bias, then arm_nn_requantize
            p = {k: np.asarray(op[k], dtype=np.int64) for k in ("sign", "bias", "multiplier", "shift")}
            y = requantize(p["sign"] * (ins[0] + op["input_offset"]) + p["bias"], p["multiplier"], p["shift"])
            y = y + op["output_offset"]
        elif kind == "concat":
            y = np.concatenate([v.reshape(len(v), -1, c) for v, c in zip(ins, op["channels"], strict=True)], axis=-1)
            y = y.reshape((len(y), *manifest["tensors"][op["output"]]["shape"]))
        elif kind == "add":
            y = elementwise_add(op, ins[0], ins[1])
        elif kind == "avgpool":
            win = _windows(ins[0], op, op["kernel"])
            valid = _windows(np.ones_like(ins[0][:1]), op, op["kernel"], pad_value=0)
            counts = valid.sum(axis=(-2, -1))
            if np.any(counts != counts.flat[0]):
                raise ValueError(f"op {op['name']}: windows of unequal size (padding) are not supported")
            y = avg_divide(win.sum(axis=(-2, -1)), int(counts.flat[0]))
        elif kind == "maxpool":
            y = _windows(ins[0], op, op["kernel"], pad_value=-(2**40)).max(axis=(-2, -1))
        else:
            raise ValueError(f"unknown op {kind!r} in a cmsis-nn manifest")
        values[op["output"]] = np.clip(y, op["act_min"], op["act_max"]).astype(np.int64)
    return values


def elementwise_add(op: dict[str, Any], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """arm_elementwise_add_s8 on stored int8 values (int64 arrays), before its activation clamp."""
    shift = op["left_shift"]
    a = requantize((a + op["input_1_offset"]) << shift, op["input_1_mult"], op["input_1_shift"])
    b = requantize((b + op["input_2_offset"]) << shift, op["input_2_mult"], op["input_2_shift"])
    return requantize(a + b, op["out_mult"], op["out_shift"]) + op["out_offset"]


def _windows(
    x: np.ndarray, op: dict[str, Any], kernel: list[int], pad_value: int = 0, dilation: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """(N, OH, OW, C, kh, kw) windows of an NHWC tensor: top/left padding from op["pad"], bottom/right
    as far as the output size needs (CMSIS-NN treats every out-of-range tap as padding)."""
    oh, ow = op["out_hwc"][:2]
    kh, kw = kernel
    dh, dw = dilation
    sh, sw = op["stride"]
    top, left = op["pad"]
    h, w = x.shape[1:3]
    bottom = max((oh - 1) * sh + (kh - 1) * dh + 1 - h - top, 0)
    right = max((ow - 1) * sw + (kw - 1) * dw + 1 - w - left, 0)
    x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    win = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2))
    return win[:, ::sh, ::sw][:, :oh, :ow, :, ::dh, ::dw]


def _conv(op: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    n = len(x)
    in_h, in_w, in_c = op["in_hwc"]
    oh, ow, oc = op["out_hwc"]
    x = x.reshape(n, in_h, in_w, in_c) + op["input_offset"]  # padded taps are 0 after the offset
    kh, kw = op["kernel"]
    win = _windows(x, op, op["kernel"], pad_value=0, dilation=tuple(op["dilation"]))  # (N, OH, OW, C, kh, kw)
    out = np.zeros((n, oh, ow, oc), dtype=np.int64)
    for g in op["precision_groups"]:
        a, b = g["channels"]
        count = b - a
        if op["depthwise"]:
            w = unpack(arrays[g["weights"]], g["storage_bits"], kh * kw * count).reshape(kh, kw, count)
            acc = np.einsum("nhwcij,ijc->nhwc", win[:, :, :, a:b], w.astype(np.int64))
        else:
            w = unpack(arrays[g["weights"]], g["storage_bits"], count * kh * kw * in_c).reshape(count, kh, kw, in_c)
            cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * in_c)
            acc = (cols @ w.reshape(count, -1).T.astype(np.int64)).reshape(n, oh, ow, count)
        acc = acc + arrays[g["bias"]].astype(np.int64)
        y = requantize(acc, arrays[g["multiplier"]].astype(np.int64), arrays[g["shift"]].astype(np.int64))
        out[..., a:b] = np.clip(y + op["output_offset"], op["act_min"], op["act_max"])
    return out.reshape(n, -1) if op["linear"] else out


__all__ = ["elementwise_add", "quantize_input", "run"]
