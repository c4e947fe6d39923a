"""model.c of the cmsis-nn flavour: the manifest's ops as CMSIS-NN calls on a static arena.

Each precision group of a layer is one CMSIS-NN convolution call (the function chosen by the layer's
geometry: cost_models/cmsis_kernels.py). A group covering every output channel, or any group of a
layer whose output is one pixel (Linear layers, 1x1 maps), writes straight into the layer's NHWC
output; otherwise the group writes a dense (H, W, group channels) scratch tensor that is copied into its channel range.
A depthwise group first gathers its input channels into scratch. Kernel scratch (`ctx.buf`) is
one static buffer sized for the largest call; every call checks the size CMSIS-NN asks for.

Markers: the body is a sequence of pieces (one CMSIS-NN kernel call, or one glue loop: requantize,
clamp, gather / scatter copies, concat, affine, the output copy), each preceded by `BG_MARK(id)`,
plus a last `BG_MARK` at the end. The macro is empty unless model.c is built with -DBG_PROFILE
(model.h), so production builds pay nothing; `markers(manifest)` lists what each id belongs to, in
execution order (model.json's "markers", read by deploy/firmware to attribute measured counts).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deploy.c_cmsis_ops import align, call_ctx_bytes, op_pieces, padded_hw, prepad
from deploy.c_common import array_literal, header, ram_plan
from deploy.cmsis_scratch import avgpool_ctx_bytes
from deploy.cmsis_scratch import group_bytes as group_scratch_bytes


def _kernel_scratch(op: dict[str, Any]) -> int:
    """Bytes of ctx.buf this op's kernel calls ask for (cmsis_scratch.py)."""
    if op["op"] == "conv":
        return max((call_ctx_bytes(op, g) for g in op["precision_groups"]), default=0)
    if op["op"] == "avgpool":
        return avgpool_ctx_bytes(op["in_hwc"][2])
    return 0


def _group_scratch(op: dict[str, Any]) -> int:
    """Bytes of gathered input + dense output a layer's groups need (0 when they write in place)."""
    if op["op"] != "conv":
        return 0
    oh, ow, oc = op["out_hwc"]
    ih, iw, _ = op["in_hwc"]
    ph, pw = padded_hw(op)
    return max(
        (
            group_scratch_bytes(g["count"], g["count"] == oc, op["depthwise"], prepad(op, g), ih * iw, oh * ow, ph * pw)
            for g in op["precision_groups"]
        ),
        default=0,
    )


def _ptr(tid: int, input_id: int, offsets: dict[int, int]) -> str:
    return "in" if tid == input_id else f"(bg_arena + {offsets[tid]})"


def _body(manifest: dict[str, Any], offsets: dict[int, int]) -> tuple[list[str], list[dict[str, Any]]]:
    """bg_infer's statements, a BG_MARK before every piece and one at the end, and the marker table."""
    input_id = manifest["input"]["id"]
    body: list[str] = []
    markers: list[dict[str, Any]] = []

    def mark(info: dict[str, Any]) -> None:
        body.append(f"  BG_MARK({len(markers)});")
        markers.append({"id": len(markers), **info})

    for i, op in enumerate(manifest["ops"]):
        x = [_ptr(t, input_id, offsets) for t in op["inputs"]]
        y = _ptr(op["output"], input_id, offsets)
        size = int(np.prod(manifest["tensors"][op["output"]]["shape"]))
        body.append(f"#define OP {i + 1}")
        for info, lines in op_pieces(op, x, y, size):
            mark({"op": i, "name": op["name"], **info})
            body += lines
        body.append("#undef OP")
    out_id = manifest["output"]["id"]
    mark({"op": None, "name": "(output)", "kind": "glue", "what": "copy_output"})
    n_out = int(np.prod(manifest["tensors"][out_id]["shape"]))
    body.append(f"  memcpy(out, {_ptr(out_id, input_id, offsets)}, {n_out});")
    mark({"op": None, "name": "(end)", "kind": "end", "what": "end"})
    return body, markers


def markers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """What each BG_MARK id of model.c belongs to, in execution order (the last one ends bg_infer):
    {"id", "op" (index into ops, None for the output copy and the end), "name", "kind" ("kernel", "glue"
    or "end"), "what" (the CMSIS-NN function, or the glue: requant, clamp, concat, affine, gather, pad,
    scatter, copy_output), and for a layer's pieces "bits", "storage_bits", "channels"}."""
    return _body(manifest, ram_plan(manifest).offsets)[1]


_MARK_DOC = (
    "/* Profiling hook: model.c calls BG_MARK(id) before every CMSIS-NN kernel call and every glue loop",
    ' * (requantize, clamp, copies, concat, affine) and once at its end; model.json\'s "markers" says what',
    " * each id belongs to, in execution order. Without BG_PROFILE the marks compile to nothing (production",
    " * builds pay nothing). Built with -DBG_PROFILE, model.c calls bg_mark(id), which the application",
    ' * provides: deploy/firmware\'s logs (id, DWT->CYCCNT) and prints "bg-mark <inference> <id> <cycles>"',
    " * lines (docs/deploying.md). */",
)


def render(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[str, str, dict[str, int]]:
    """(model.c, model.h, RAM figures) of a cmsis-nn manifest."""
    plan = ram_plan(manifest)
    ctx_bytes = max((_kernel_scratch(op) for op in manifest["ops"]), default=0)
    group_bytes = max((_group_scratch(op) for op in manifest["ops"]), default=0)
    body, marks = _body(manifest, plan.offsets)
    data = []
    for name, a in arrays.items():
        data.append(array_literal(f"bg_{name}", a, f"{manifest['arrays'][name]['kind']} {name}"))
    arena_words = max(-(-plan.arena_bytes // 4), 1)
    # scratch buffers only when some call needs them (an unused static breaks -Wall -Werror builds)
    ctx_buf = [f"static int32_t bg_ctx_buf[{-(-ctx_bytes // 4)}]; /* kernel scratch */"] if ctx_bytes else []
    ctx = "{.buf = bg_ctx_buf, .size = (int32_t)sizeof(bg_ctx_buf)}" if ctx_bytes else "{.buf = NULL, .size = 0}"
    group_buf = (
        [
            f"static int32_t bg_group_words[{-(-group_bytes // 4)}]; /* precision-group scratch */",
            "#define bg_group_buf ((int8_t *)bg_group_words)",
        ]
        if group_bytes
        else []
    )
    c = "\n".join(
        [
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
            *ctx_buf,
            *group_buf,
            "",
            "int bg_infer(const int8_t *in, int8_t *out)",
            "{",
            f"  cmsis_nn_context ctx = {ctx};",
            "  (void)ctx;",
            *body,
            "  return 0;",
            "}",
            "",
        ]
    )
    scratch = align(ctx_bytes) + align(group_bytes)
    ram = {
        "arena_bytes": plan.arena_bytes,
        "scratch_bytes": scratch,
        "ram_bytes": plan.arena_bytes + scratch,
        "peak_live_bytes": plan.peak_live_bytes,
    }
    hook = [
        *_MARK_DOC,
        f"#define BG_MARKER_COUNT {len(marks)}",
        "#ifdef BG_PROFILE",
        "void bg_mark(uint32_t id);",
        "#define BG_MARK(id) bg_mark(id)",
        "#else",
        "#define BG_MARK(id) ((void)0)",
        "#endif",
        "",
    ]
    return c, header(manifest, plan.arena_bytes, scratch, hook), ram
