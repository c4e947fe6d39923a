"""C statements of one cmsis-nn op (c_cmsis.py), cut into pieces that each get a marker.

A piece is one CMSIS-NN kernel call (with its argument set-up and buffer-size check) or one glue loop
(requantize, clamp, concat, affine, a precision group's gather / pad / scatter copies). Each comes
with a dict saying what it is, which c_cmsis.py turns into model.json's "markers".
"""

from __future__ import annotations

from typing import Any

from deploy.cmsis_scratch import kernel_ctx_bytes

Piece = tuple[dict[str, Any], list[str]]  # (what the marker before these lines belongs to, C lines)

ALIGN = 4


def align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def prepad(op: dict[str, Any], g: dict[str, Any]) -> bool:
    """arm_depthwise_conv_s4 with an odd channel count walks its nibbles per visited tap, which goes
    wrong where padding skips taps; such groups get an explicitly padded input and padding 0."""
    return op["depthwise"] and g["storage_bits"] == 4 and g["count"] % 2 == 1 and any(op["pad"])


def padded_hw(op: dict[str, Any]) -> tuple[int, int]:
    ih, iw, _ = op["in_hwc"]
    oh, ow, _ = op["out_hwc"]
    (kh, kw), (sh, sw), (dh, dw) = op["kernel"], op["stride"], op["dilation"]
    return (
        max(ih + op["pad"][0], (oh - 1) * sh + (kh - 1) * dh + 1),
        max(iw + op["pad"][1], (ow - 1) * sw + (kw - 1) * dw + 1),
    )


def _dims(n: int, h: int, w: int, c: int) -> str:
    return f"{{.n = {n}, .h = {h}, .w = {w}, .c = {c}}}"


def _tile(pair: list[int]) -> str:
    return f"{{.w = {pair[1]}, .h = {pair[0]}}}"


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
            *_size_check(op, g, in_c),
            f"    if ({g['kernel']}(&ctx, &p, &q, &in_dims, {src}, &f_dims, {w}, &bias_dims, bg_{g['bias']}, "
            f"&out_dims, {dst}) != ARM_CMSIS_NN_SUCCESS) return -OP;",
        ]
    fn = g["kernel"]
    extra = ", NULL" if fn == "arm_convolve_s8" else ""  # its upscale_dims
    return [
        *common,
        f"    const cmsis_nn_dims f_dims = {_dims(count, kh, kw, in_c)};",
        f"    const cmsis_nn_conv_params p = {{.input_offset = {op['input_offset']}, .output_offset = "
        f"{op['output_offset']}, .stride = {_tile(op['stride'])}, .padding = {_tile(op['pad'])}, "
        f".dilation = {_tile(op['dilation'])}, .activation = {act}}};",
        *_size_check(op, g, in_c),
        f"    if ({fn}(&ctx, &p, &q, &in_dims, {src}, &f_dims, {w}, &bias_dims, bg_{g['bias']}{extra}, "
        f"&out_dims, {dst}) != ARM_CMSIS_NN_SUCCESS) return -OP;",
    ]


_SIZE_ARGS = {
    "arm_convolve_s8": "&in_dims, &f_dims",
    "arm_convolve_s4": "&in_dims, &f_dims",
    "arm_convolve_1x1_s8_fast": "&in_dims",
    "arm_depthwise_conv_wrapper_s8": "&p, &in_dims, &f_dims, &out_dims",
}


def call_ctx_bytes(op: dict[str, Any], g: dict[str, Any]) -> int:
    """ctx.buf bytes the call of group `g` may ask for in any CMSIS-NN build (cmsis_scratch.py)."""
    in_c = g["count"] if op["depthwise"] else op["in_hwc"][2]
    return kernel_ctx_bytes(g["kernel"], in_c, op["kernel"], op["pad"], op["dilation"])


def _size_check(op: dict[str, Any], g: dict[str, Any], in_c: int) -> list[str]:
    """The C line that refuses a call whose buffer request exceeds ctx.buf (none for a call that takes none)."""
    if call_ctx_bytes(op, g) == 0:
        return []
    fn = g["kernel"]
    return [f"    if ({fn}_get_buffer_size({_SIZE_ARGS[fn]}) > (int32_t)sizeof(bg_ctx_buf)) return -OP;"]


def _conv(op: dict[str, Any], x: str, y: str) -> list[Piece]:
    ih, iw, ic = op["in_hwc"]
    oh, ow, oc = op["out_hwc"]
    pieces: list[Piece] = []
    for g in op["precision_groups"]:
        a, count = g["channels"][0], g["count"]
        full = count == oc
        group = {"bits": g["bits"], "storage_bits": g["storage_bits"], "channels": [a, a + count]}
        lines = [f"  {{ /* {op['name']}: channels [{a}, {a + count}), {g['bits']}-bit weights, {g['kernel']} */"]
        src, in_c = x, ic
        pad_op = op
        if prepad(op, g):
            ph, pw = padded_hw(op)
            top, left = op["pad"]
            lines.append(f"    memset(bg_group_buf, {-op['input_offset']}, {ph * pw * count});")
            lines.append(
                f"    for (int32_t r = 0; r < {ih}; r++) for (int32_t c = 0; c < {iw}; c++) "
                f"memcpy(bg_group_buf + ((r + {top}) * {pw} + c + {left}) * {count}, "
                f"{x} + (r * {iw} + c) * {ic} + {a}, {count});"
            )
            pieces.append(({"kind": "glue", "what": "pad", **group}, lines))
            src, in_c, lines = "bg_group_buf", count, []
            pad_op = {**op, "pad": [0, 0], "in_hwc": [ph, pw, count]}
        elif op["depthwise"] and not full:
            lines.append(
                f"    for (int32_t i = 0; i < {ih * iw}; i++) memcpy(bg_group_buf + i * {count}, "
                f"{x} + i * {ic} + {a}, {count});"
            )
            pieces.append(({"kind": "glue", "what": "gather", **group}, lines))
            src, in_c, lines = "bg_group_buf", count, []
        gathered = align(pad_op["in_hwc"][0] * pad_op["in_hwc"][1] * count) if src == "bg_group_buf" else 0
        if full:
            dst = y
        elif oh * ow == 1:
            dst = f"{y} + {a}"
        else:
            dst = "bg_group_buf" + (f" + {gathered}" if gathered else "")
        lines += _conv_call(pad_op, g, src, dst, in_c)
        if not full and oh * ow > 1:
            pieces.append(({"kind": "kernel", "what": g["kernel"], **group}, lines))
            lines = [
                f"    for (int32_t i = 0; i < {oh * ow}; i++) memcpy({y} + i * {oc} + {a}, {dst} + i * "
                f"{count}, {count});",
                "  }",
            ]
            pieces.append(({"kind": "glue", "what": "scatter", **group}, lines))
        else:
            pieces.append(({"kind": "kernel", "what": g["kernel"], **group}, [*lines, "  }"]))
    return pieces


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


def op_pieces(op: dict[str, Any], x: list[str], y: str, size: int) -> list[Piece]:
    """The pieces of one manifest op: x = input pointers, y = output pointer, size = output elements."""
    kind = op["op"]
    if kind == "conv":
        return _conv(op, x[0], y)
    if kind in ("avgpool", "maxpool"):
        return [
            (
                {"kind": "kernel", "what": "arm_avgpool_s8" if kind == "avgpool" else "arm_max_pool_s8"},
                _pool(op, x[0], y),
            )
        ]
    if kind == "add":
        return [
            (
                {"kind": "kernel", "what": "arm_elementwise_add_s8"},
                [
                    f"  /* {op['name']}: arm_elementwise_add_s8 */",
                    f"  if (arm_elementwise_add_s8({x[0]}, {x[1]}, {op['input_1_offset']}, {op['input_1_mult']}, "
                    f"{op['input_1_shift']}, {op['input_2_offset']}, {op['input_2_mult']}, {op['input_2_shift']}, "
                    f"{op['left_shift']}, {y}, {op['out_offset']}, {op['out_mult']}, {op['out_shift']}, "
                    f"{op['act_min']}, {op['act_max']}, {op['size']}) != ARM_CMSIS_NN_SUCCESS) return -OP;",
                ],
            )
        ]
    return [({"kind": "glue", "what": kind}, _glue_lines(op, x, y, size))]


def _glue_lines(op: dict[str, Any], x: list[str], y: str, size: int) -> list[str]:
    kind = op["op"]
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
        arrays = [
            f"  static const int32_t {tag}_{k}[{op['channels']}] = {{{', '.join(str(v) for v in op[k])}}};"
            for k in ("sign", "bias", "multiplier", "shift")
        ]
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
            lines.append(
                f"  for (int32_t i = 0; i < {op['pixels']}; i++) memcpy({y} + i * {total} + {start}, "
                f"{xi} + i * {c}, {c});"
            )
            start += c
        return lines
    if kind == "clamp":
        return [
            f"  /* {op['name']}: ReLU / clamp */",
            f"  for (int32_t i = 0; i < {size}; i++) {y}[i] = (int8_t)MIN(MAX({x[0]}[i], {op['act_min']}), "
            f"{op['act_max']});",
        ]
    raise ValueError(f"no C for op {kind!r}")
