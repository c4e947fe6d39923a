"""model.c of the cmsis-nn flavour: the manifest's ops as CMSIS-NN calls on a static arena.

Each precision group of a layer is one arm_convolve_s8 / _s4 (or arm_depthwise_conv_s8 / _s4)
call. A group covering every output channel, or any group of a layer whose output is one pixel
(Linear layers, 1x1 maps), writes straight into the layer's NHWC output; otherwise the group
writes a dense (H, W, group channels) scratch tensor that is copied into its channel range.
A depthwise group first gathers its input channels into scratch. Kernel scratch (`ctx.buf`) is
one static buffer sized for the largest call; every call checks the size CMSIS-NN asks for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deploy.c_common import array_literal, header, ram_plan

_ALIGN = 4


def _align(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _kernel_scratch(op: dict[str, Any]) -> int:
    """Upper bound of the ctx buffer any CMSIS-NN build (C, DSP, MVE) asks for this op."""
    if op["op"] == "conv" and not op["depthwise"]:
        rhs = op["kernel"][0] * op["kernel"][1] * op["in_hwc"][2]
        return max(4 * (-(-rhs // 4) * 4), 64 * -(-rhs // 16))
    if op["op"] == "avgpool":
        return 4 * op["in_hwc"][2]
    return 0


def _group_scratch(op: dict[str, Any]) -> int:
    """Bytes of gathered input + dense output a layer's groups need (0 when they write in place)."""
    if op["op"] != "conv":
        return 0
    oh, ow, oc = op["out_hwc"]
    ih, iw, _ = op["in_hwc"]
    need = 0
    for g in op["precision_groups"]:
        count = g["count"]
        full = count == oc
        if _prepad(op, g):
            ph, pw = _padded_hw(op)
            need = max(need, _align(ph * pw * count) + (0 if full else _align(oh * ow * count)))
        elif op["depthwise"] and not full:
            need = max(need, _align(ih * iw * count) + _align(oh * ow * count))
        elif not full and oh * ow > 1:
            need = max(need, _align(oh * ow * count))
    return need


def _prepad(op: dict[str, Any], g: dict[str, Any]) -> bool:
    """arm_depthwise_conv_s4 with an odd channel count walks its nibbles per visited tap, which goes
    wrong where padding skips taps; such groups get an explicitly padded input and padding 0."""
    return op["depthwise"] and g["storage_bits"] == 4 and g["count"] % 2 == 1 and any(op["pad"])


def _padded_hw(op: dict[str, Any]) -> tuple[int, int]:
    ih, iw, _ = op["in_hwc"]
    oh, ow, _ = op["out_hwc"]
    (kh, kw), (sh, sw), (dh, dw) = op["kernel"], op["stride"], op["dilation"]
    return (max(ih + op["pad"][0], (oh - 1) * sh + (kh - 1) * dh + 1),
            max(iw + op["pad"][1], (ow - 1) * sw + (kw - 1) * dw + 1))


def _dims(n: int, h: int, w: int, c: int) -> str:
    return f"{{.n = {n}, .h = {h}, .w = {w}, .c = {c}}}"


def _tile(pair: list[int]) -> str:
    return f"{{.w = {pair[1]}, .h = {pair[0]}}}"


def _ptr(tid: int, input_id: int, offsets: dict[int, int]) -> str:
    return "in" if tid == input_id else f"(bg_arena + {offsets[tid]})"


def _conv_call(op: dict[str, Any], g: dict[str, Any], src: str, dst: str, in_c: int) -> list[str]:
    ih, iw, _ = op["in_hwc"]
    oh, ow, _ = op["out_hwc"]
    kh, kw = op["kernel"]
    count = g["count"]
    act = f"{{.min = {op['act_min']}, .max = {op['act_max']}}}"
    q = f"{{.multiplier = (int32_t *)bg_{g['multiplier']}, .shift = (int32_t *)bg_{g['shift']}}}"
    common = [
        f"    const cmsis_nn_per_channel_quant_params q = {q};",
        f"    const cmsis_nn_dims in_dims = {_dims(1, ih, iw, in_c)};",
        f"    const cmsis_nn_dims bias_dims = {_dims(1, 1, 1, count)};",
        f"    const cmsis_nn_dims out_dims = {_dims(1, oh, ow, count)};",
    ]
    w = f"(const int8_t *)bg_{g['weights']}"
    if op["depthwise"]:
        return [
            *common,
            f"    const cmsis_nn_dims f_dims = {_dims(1, kh, kw, count)};",
            f"    const cmsis_nn_dw_conv_params p = {{.input_offset = {op['input_offset']}, .output_offset = "
            f"{op['output_offset']}, .ch_mult = 1, .stride = {_tile(op['stride'])}, .padding = {_tile(op['pad'])}, "
            f".dilation = {_tile(op['dilation'])}, .activation = {act}}};",
            f"    if ({g['kernel']}(&ctx, &p, &q, &in_dims, {src}, &f_dims, {w}, &bias_dims, bg_{g['bias']}, "
            f"&out_dims, {dst}) != ARM_CMSIS_NN_SUCCESS) return -OP;",
        ]
    size_fn = "arm_convolve_s8_get_buffer_size" if g["storage_bits"] == 8 else "arm_convolve_s4_get_buffer_size"
    extra = ", NULL" if g["storage_bits"] == 8 else ""
    return [
        *common,
        f"    const cmsis_nn_dims f_dims = {_dims(count, kh, kw, in_c)};",
        f"    const cmsis_nn_conv_params p = {{.input_offset = {op['input_offset']}, .output_offset = "
        f"{op['output_offset']}, .stride = {_tile(op['stride'])}, .padding = {_tile(op['pad'])}, "
        f".dilation = {_tile(op['dilation'])}, .activation = {act}}};",
        f"    if ({size_fn}(&in_dims, &f_dims) > (int32_t)sizeof(bg_ctx_buf)) return -OP;",
        f"    if ({g['kernel']}(&ctx, &p, &q, &in_dims, {src}, &f_dims, {w}, &bias_dims, bg_{g['bias']}{extra}, "
        f"&out_dims, {dst}) != ARM_CMSIS_NN_SUCCESS) return -OP;",
    ]


def _conv(op: dict[str, Any], x: str, y: str) -> list[str]:
    ih, iw, ic = op["in_hwc"]
    oh, ow, oc = op["out_hwc"]
    lines = []
    for g in op["precision_groups"]:
        a, count = g["channels"][0], g["count"]
        full = count == oc
        lines.append(f"  {{ /* {op['name']}: channels [{a}, {a + count}), {g['bits']}-bit weights, {g['kernel']} */")
        src, in_c = x, ic
        pad_op = op
        if _prepad(op, g):
            ph, pw = _padded_hw(op)
            top, left = op["pad"]
            lines.append(f"    memset(bg_group_buf, {-op['input_offset']}, {ph * pw * count});")
            lines.append(f"    for (int32_t r = 0; r < {ih}; r++) for (int32_t c = 0; c < {iw}; c++) "
                         f"memcpy(bg_group_buf + ((r + {top}) * {pw} + c + {left}) * {count}, "
                         f"{x} + (r * {iw} + c) * {ic} + {a}, {count});")
            src, in_c = "bg_group_buf", count
            pad_op = {**op, "pad": [0, 0], "in_hwc": [ph, pw, count]}
        elif op["depthwise"] and not full:
            lines.append(f"    for (int32_t i = 0; i < {ih * iw}; i++) memcpy(bg_group_buf + i * {count}, "
                         f"{x} + i * {ic} + {a}, {count});")  # fmt: skip
            src, in_c = "bg_group_buf", count
        gathered = _align(pad_op["in_hwc"][0] * pad_op["in_hwc"][1] * count) if src == "bg_group_buf" else 0
        if full:
            dst = y
        elif oh * ow == 1:
            dst = f"{y} + {a}"
        else:
            dst = "bg_group_buf" + (f" + {gathered}" if gathered else "")
        lines += _conv_call(pad_op, g, src, dst, in_c)
        if not full and oh * ow > 1:
            lines.append(f"    for (int32_t i = 0; i < {oh * ow}; i++) memcpy({y} + i * {oc} + {a}, {dst} + i * "
                         f"{count}, {count});")  # fmt: skip
        lines.append("  }")
    return lines


def _pool(op: dict[str, Any], x: str, y: str) -> list[str]:
    ih, iw, c = op["in_hwc"]
    oh, ow, _ = op["out_hwc"]
    kh, kw = op["kernel"]
    fn = "arm_avgpool_s8" if op["op"] == "avgpool" else "arm_max_pool_s8"
    lines = [
        f"  {{ /* {op['name']}: {fn} */",
        f"    const cmsis_nn_pool_params p = {{.stride = {_tile(op['stride'])}, .padding = {_tile(op['pad'])}, "
        f".activation = {{.min = {op['act_min']}, .max = {op['act_max']}}}}};",
        f"    const cmsis_nn_dims in_dims = {_dims(1, ih, iw, c)};",
        f"    const cmsis_nn_dims f_dims = {_dims(1, kh, kw, 1)};",
        f"    const cmsis_nn_dims out_dims = {_dims(1, oh, ow, c)};",
    ]
    if op["op"] == "avgpool":
        lines.append(f"    if (arm_avgpool_s8_get_buffer_size({ow}, {c}) > (int32_t)sizeof(bg_ctx_buf)) return -OP;")
    lines.append(f"    if ({fn}(&ctx, &p, &in_dims, {x}, &f_dims, &out_dims, {y}) != ARM_CMSIS_NN_SUCCESS) return -OP;")
    lines.append("  }")
    return lines


def _op_lines(op: dict[str, Any], x: list[str], y: str, size: int) -> list[str]:
    kind = op["op"]
    if kind == "conv":
        return _conv(op, x[0], y)
    if kind in ("avgpool", "maxpool"):
        return _pool(op, x[0], y)
    if kind == "add":
        return [
            f"  /* {op['name']}: arm_elementwise_add_s8 */",
            f"  if (arm_elementwise_add_s8({x[0]}, {x[1]}, {op['input_1_offset']}, {op['input_1_mult']}, "
            f"{op['input_1_shift']}, {op['input_2_offset']}, {op['input_2_mult']}, {op['input_2_shift']}, "
            f"{op['left_shift']}, {y}, {op['out_offset']}, {op['out_mult']}, {op['out_shift']}, {op['act_min']}, "
            f"{op['act_max']}, {op['size']}) != ARM_CMSIS_NN_SUCCESS) return -OP;",
        ]
    if kind == "requant":
        return [
            f"  /* {op['name']}: grid conversion with arm_nn_requantize */",
            f"  for (int32_t i = 0; i < {size}; i++) {{",
            f"    int32_t v = arm_nn_requantize({x[0]}[i] + {op['input_offset']}, {op['multiplier']}, {op['shift']})"
            f" + {op['output_offset']};",
            f"    {y}[i] = (int8_t)MIN(MAX(v, {op['act_min']}), {op['act_max']});",
            "  }",
        ]
    if kind == "affine":
        tag = f"bg_affine_{op['output']}"
        arrays = [f"  static const int32_t {tag}_{k}[{op['channels']}] = {{{', '.join(str(v) for v in op[k])}}};"
                  for k in ("sign", "bias", "multiplier", "shift")]  # fmt: skip
        return [
            f"  {{ /* {op['name']}: per-channel affine (a standalone BatchNorm) with arm_nn_requantize */",
            *arrays,
            f"    for (int32_t i = 0; i < {size}; i++) {{",
            f"      const int32_t c = i % {op['channels']};",
            f"      int32_t v = arm_nn_requantize({tag}_sign[c] * ({x[0]}[i] + {op['input_offset']}) + {tag}_bias[c], "
            f"{tag}_multiplier[c], {tag}_shift[c]) + {op['output_offset']};",
            f"      {y}[i] = (int8_t)MIN(MAX(v, {op['act_min']}), {op['act_max']});",
            "    }",
            "  }",
        ]
    if kind == "concat":
        lines, start, total = [f"  /* {op['name']}: channel concatenation (NHWC) */"], 0, sum(op["channels"])
        for xi, c in zip(x, op["channels"], strict=True):
            lines.append(f"  for (int32_t i = 0; i < {op['pixels']}; i++) memcpy({y} + i * {total} + {start}, "
                         f"{xi} + i * {c}, {c});")  # fmt: skip
            start += c
        return lines
    if kind == "clamp":
        return [
            f"  /* {op['name']}: ReLU / clamp */",
            f"  for (int32_t i = 0; i < {size}; i++) {y}[i] = (int8_t)MIN(MAX({x[0]}[i], {op['act_min']}), "
            f"{op['act_max']});",
        ]
    raise ValueError(f"no C for op {kind!r}")


def render(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[str, str, dict[str, int]]:
    """(model.c, model.h, RAM figures) of a cmsis-nn manifest."""
    plan = ram_plan(manifest)
    ctx_bytes = max((_kernel_scratch(op) for op in manifest["ops"]), default=0)
    group_bytes = max((_group_scratch(op) for op in manifest["ops"]), default=0)
    input_id = manifest["input"]["id"]
    body = []
    for i, op in enumerate(manifest["ops"], 1):
        x = [_ptr(t, input_id, plan.offsets) for t in op["inputs"]]
        y = _ptr(op["output"], input_id, plan.offsets)
        size = int(np.prod(manifest["tensors"][op["output"]]["shape"]))
        body += [f"#define OP {i}", *_op_lines(op, x, y, size), "#undef OP"]
    out_id = manifest["output"]["id"]
    n_out = int(np.prod(manifest["tensors"][out_id]["shape"]))
    data = []
    for name, a in arrays.items():
        data.append(array_literal(f"bg_{name}", a, f"{manifest['arrays'][name]['kind']} {name}"))
    arena_words = max(-(-plan.arena_bytes // 4), 1)
    c = "\n".join([
        "/* Generated by bitgate (deploy, flavour cmsis-nn): CMSIS-NN calls on a static arena. Do not edit. */",
        '#include "model.h"',
        "",
        "#include <string.h>",
        "",
        '#include "arm_nnfunctions.h"',
        '#include "arm_nnsupportfunctions.h"',
        "",
        *data,
        "",
        f"static int32_t bg_arena_words[{arena_words}]; /* {plan.arena_bytes} bytes of activations */",
        "#define bg_arena ((int8_t *)bg_arena_words)",
        f"static int32_t bg_ctx_buf[{max(-(-ctx_bytes // 4), 1)}]; /* kernel scratch */",
        f"static int32_t bg_group_words[{max(-(-group_bytes // 4), 1)}]; /* precision-group scratch */",
        "#define bg_group_buf ((int8_t *)bg_group_words)",
        "",
        "int bg_infer(const int8_t *in, int8_t *out)",
        "{",
        "  cmsis_nn_context ctx = {.buf = bg_ctx_buf, .size = (int32_t)sizeof(bg_ctx_buf)};",
        "  (void)ctx;",
        *body,
        f"  memcpy(out, {_ptr(out_id, input_id, plan.offsets)}, {n_out});",
        "  return 0;",
        "}",
        "",
    ])
    scratch = _align(ctx_bytes) + _align(group_bytes)
    ram = {"arena_bytes": plan.arena_bytes, "scratch_bytes": scratch, "ram_bytes": plan.arena_bytes + scratch,
           "peak_live_bytes": plan.peak_live_bytes}  # fmt: skip
    return c, header(manifest, plan.arena_bytes, scratch), ram
