"""model.c of the reference flavour: portable C99 kernels that compute what interpreter.py computes.

The kernels below are this project's own (no library): NCHW tensors of the manifest's dtypes
(uint8 / int8 / int32) in one static arena, weights unpacked from their packed fields on the fly,
int64 accumulation of (acc << bias_frac_bits) + bias, and fixedpoint.requantize's round half up.
They are written for clarity and bit-exactness, not speed (a generic loop nest per op).
Assumes arithmetic right shifts of negative int64 values (every C compiler for Cortex-M and x86).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deploy.c_common import array_literal, header, ident, packed, ram_plan


def array_notes(manifest: dict[str, Any]) -> dict[str, str]:
    """The comment above each weight / metadata array of a reference model.c: its layer, group and channels."""
    notes = {}
    for op in manifest["ops"]:
        if op["op"] != "layer":
            continue
        for g in op["precision_groups"]:
            where = (
                f"channels [{g['channels'][0]}, {g['channels'][1]})" if "channels" in g else f"channels {g['index']}"
            )
            notes[g["weights"]] = (
                f"{op['name']}: {g['count']} x {op['weights_per_channel']} weights, {g['bits']}-bit in "
                f"{g['storage_bits']}-bit fields, {where}"
            )
        for key in ("bias", "multiplier", "shift"):
            notes[op[key]] = f"{op['name']}: {key} per output channel"
    return notes


_BASE = r"""
/* a tensor: type 0 uint8, 1 int8, 2 int32, 3 packed unsigned, 4 packed signed (`bits`-bit fields,
   little-endian bit stream, value i at bit i * bits: manifest "activation_storage": "packed") */
typedef struct { void *p; int type; int bits; } bg_t;

static int64_t bg_ld(bg_t t, int32_t i)
{
  if (t.type == 0) return ((const uint8_t *)t.p)[i];
  if (t.type == 1) return ((const int8_t *)t.p)[i];
  if (t.type == 2) return ((const int32_t *)t.p)[i];
  const uint8_t *b = (const uint8_t *)t.p;
  int64_t pos = (int64_t)i * t.bits;
  uint32_t v = 0;
  for (int32_t k = 0; k < t.bits; k++, pos++) v |= (uint32_t)((b[pos >> 3] >> (pos & 7)) & 1u) << k;
  if (t.type == 4 && (v & (1u << (t.bits - 1)))) return (int64_t)v - ((int64_t)1 << t.bits);
  return v;
}

static void bg_st(bg_t t, int32_t i, int64_t v)
{
  if (t.type == 0) ((uint8_t *)t.p)[i] = (uint8_t)v;
  else if (t.type == 1) ((int8_t *)t.p)[i] = (int8_t)v;
  else if (t.type == 2) ((int32_t *)t.p)[i] = (int32_t)v;
  else {
    uint8_t *b = (uint8_t *)t.p;
    int64_t pos = (int64_t)i * t.bits;
    for (int32_t k = 0; k < t.bits; k++, pos++) {
      uint8_t bit = (uint8_t)(1u << (pos & 7));
      b[pos >> 3] = (uint8_t)(((uint64_t)v >> k) & 1u ? (b[pos >> 3] | bit) : (b[pos >> 3] & ~bit));
    }
  }
}

static int64_t bg_sat(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* clamp((sat_int32(x) * m + 2^(n-1)) >> n, lo, hi): fixedpoint.requantize */
static int64_t bg_requant(int64_t x, int32_t m, int32_t n, int64_t lo, int64_t hi)
{
  int64_t half = n > 0 ? ((int64_t)1 << (n - 1)) : 0;
  x = bg_sat(x, INT32_MIN, INT32_MAX);
  return bg_sat((x * (int64_t)m + half) >> n, lo, hi);
}

/* value i of a packed little-endian bit stream of `bits`-bit two's complement fields (1 bit: 0 = +1) */
static int32_t bg_weight(const uint8_t *w, int32_t i, int32_t bits)
{
  if (bits == 8) return (int8_t)w[i];
  int64_t pos = (int64_t)i * bits;
  uint32_t v = 0;
  for (int32_t b = 0; b < bits; b++, pos++) v |= (uint32_t)((w[pos >> 3] >> (pos & 7)) & 1u) << b;
  if (bits == 1) return v ? -1 : 1;
  return (v & (1u << (bits - 1))) ? (int32_t)v - (int32_t)(1u << bits) : (int32_t)v;
}

typedef struct {
  int32_t in_c, in_h, in_w, out_c, out_h, out_w, kh, kw, sh, sw, pt, pl, dh, dw, groups, frac;
  int64_t lo, hi;
  const int32_t *bias, *mult;
  const int8_t *shift;
} bg_layer_t;
"""

_CONV_GROUP = r"""/* one precision group of a conv (or linear: 1x1 over a 1x1 map): channels idx[0..count) */
static void bg_conv_group(const bg_layer_t *L, bg_t x, bg_t y, const uint8_t *w, int32_t bits,
                          const int32_t *idx, int32_t first, int32_t count)
{
  int32_t per_in = L->in_c / L->groups, per_out = L->out_c / L->groups;
  int32_t wpc = per_in * L->kh * L->kw;
  for (int32_t j = 0; j < count; j++) {
    int32_t oc = idx ? idx[j] : first + j, g = oc / per_out;
    for (int32_t oy = 0; oy < L->out_h; oy++) {
      for (int32_t ox = 0; ox < L->out_w; ox++) {
        int64_t acc = 0;
        for (int32_t ic = 0; ic < per_in; ic++) {
          for (int32_t ky = 0; ky < L->kh; ky++) {
            int32_t iy = oy * L->sh - L->pt + ky * L->dh;
            if (iy < 0 || iy >= L->in_h) continue;
            for (int32_t kx = 0; kx < L->kw; kx++) {
              int32_t ix = ox * L->sw - L->pl + kx * L->dw;
              if (ix < 0 || ix >= L->in_w) continue;
              int64_t v = bg_ld(x, ((g * per_in + ic) * L->in_h + iy) * L->in_w + ix);
              acc += v * bg_weight(w, j * wpc + (ic * L->kh + ky) * L->kw + kx, bits);
            }
          }
        }
        int64_t total = acc * ((int64_t)1 << L->frac) + L->bias[oc];
        bg_st(y, (oc * L->out_h + oy) * L->out_w + ox, bg_requant(total, L->mult[oc], L->shift[oc], L->lo, L->hi));
      }
    }
  }
}
"""

_REQUANT_OP = r"""static void bg_requant_op(bg_t x, bg_t y, int32_t n, int32_t m, int32_t s, int64_t lo, int64_t hi)
{
  for (int32_t i = 0; i < n; i++) bg_st(y, i, bg_requant(bg_ld(x, i), m, s, lo, hi));
}
"""

_ADD = r"""static void bg_add(bg_t a, bg_t b, bg_t y, int32_t n, int32_t m, int32_t s, int64_t lo, int64_t hi)
{
  for (int32_t i = 0; i < n; i++)
    bg_st(y, i, bg_requant(bg_sat(bg_ld(a, i) + bg_ld(b, i), INT32_MIN, INT32_MAX), m, s, lo, hi));
}
"""

_POOL = r"""/* average (kind 0: sum, shifted by pre, requantized) or max (kind 1) pooling, NCHW */
static void bg_pool(int kind, bg_t x, bg_t y, int32_t c, int32_t ih, int32_t iw, int32_t oh, int32_t ow,
                    int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pt, int32_t pl,
                    int32_t pre, int32_t m, int32_t s, int64_t lo, int64_t hi)
{
  for (int32_t ch = 0; ch < c; ch++)
    for (int32_t oy = 0; oy < oh; oy++)
      for (int32_t ox = 0; ox < ow; ox++) {
        int64_t acc = kind ? INT32_MIN : 0;
        for (int32_t ky = 0; ky < kh; ky++)
          for (int32_t kx = 0; kx < kw; kx++) {
            int32_t iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
            int64_t v = (iy < 0 || iy >= ih || ix < 0 || ix >= iw) ? (kind ? INT32_MIN : 0)
                                                                   : bg_ld(x, (ch * ih + iy) * iw + ix);
            acc = kind ? (v > acc ? v : acc) : acc + v;
          }
        int32_t o = (ch * oh + oy) * ow + ox;
        if (kind) bg_st(y, o, acc);
        else bg_st(y, o, bg_requant(bg_sat((acc + (((int64_t)1 << pre) >> 1)) >> pre, INT32_MIN, INT32_MAX),
                                    m, s, lo, hi));
      }
}
"""

# the op-level kernels, emitted only where the manifest has such an op (an unused static function breaks
# -Wall -Werror builds)
_OP_KERNELS = {"layer": _CONV_GROUP, "requant": _REQUANT_OP, "add": _ADD, "avgpool": _POOL, "maxpool": _POOL}


def kernels(manifest: dict[str, Any]) -> str:
    """The C helpers model.c needs: the base ones, then one per op kind present, in a fixed order."""
    used = {op["op"] for op in manifest["ops"]}
    chosen = dict.fromkeys(code for kind, code in _OP_KERNELS.items() if kind in used)
    return _BASE + "\n" + "\n".join(chosen)


_TYPES = {"uint8": 0, "int8": 1, "int32": 2}


def _t(manifest: dict[str, Any], tid: int, offsets: dict[int, int]) -> str:
    t = manifest["tensors"][tid]
    kind, bits = _TYPES[t["dtype"]], t["bits"]
    if packed(manifest, tid):
        kind = 4 if t["lo"] < 0 else 3
    return f"((bg_t){{(uint8_t *)bg_arena_words + {offsets[tid]}, {kind}, {bits}}})"


def _chw(shape: list[int]) -> tuple[int, int, int]:
    return (shape[0], shape[1], shape[2]) if len(shape) == 3 else (shape[0], 1, 1)


def _i64(v: int) -> str:
    return f"INT64_C({int(v)})"


def _layer(op: dict[str, Any], manifest: dict[str, Any], x: str, y: str, extra: list[str]) -> list[str]:
    tin, tout = (manifest["tensors"][i]["shape"] for i in (op["inputs"][0], op["output"]))
    c, h, w = _chw(tin)
    oc, oh, ow = _chw(tout)
    if op["kind"] == "linear":
        c, h, w, kh, kw, groups = op["in_channels"], 1, 1, 1, 1, 1
    else:
        (kh, kw), groups = op["kernel"], op["groups"]
    tag = ident(op["bias"][: -len("_bias")])
    lines = [
        f"  {{ /* layer {op['name']} */",
        f"    static const bg_layer_t L = {{{c}, {h}, {w}, {oc}, {oh}, {ow}, {kh}, {kw}, {op['stride'][0]}, "
        f"{op['stride'][1]}, {op['pads'][0]}, {op['pads'][1]}, {op['dilation'][0]}, {op['dilation'][1]}, {groups}, "
        f"{op['bias_frac_bits']}, {_i64(op['lo'])}, {_i64(op['hi'])}, bg_{op['bias']}, bg_{op['multiplier']}, "
        f"bg_{op['shift']}}};",
    ]
    for k, g in enumerate(op["precision_groups"]):
        if "channels" in g:
            idx, first = "NULL", g["channels"][0]
        else:
            name = f"bg_{tag}_idx{k}"
            extra.append(array_literal(name, np.asarray(g["index"], dtype=np.int32), f"{op['name']} group channels"))
            idx, first = name, 0
        lines.append(
            f"    bg_conv_group(&L, {x}, {y}, bg_{g['weights']}, {g['storage_bits']}, {idx}, {first}, {g['count']});"
        )
    return [*lines, "  }"]


def _op_lines(op: dict[str, Any], manifest: dict[str, Any], offsets: dict[int, int], extra: list[str]) -> list[str]:
    x = [_t(manifest, t, offsets) for t in op["inputs"]]
    y = _t(manifest, op["output"], offsets)
    out_shape = manifest["tensors"][op["output"]]["shape"]
    n = int(np.prod(out_shape))
    kind = op["op"]
    if kind == "layer":
        return _layer(op, manifest, x[0], y, extra)
    if kind == "requant":
        return [
            f"  bg_requant_op({x[0]}, {y}, {n}, {op['multiplier']}, {op['shift']}, {_i64(op['lo'])}, "
            f"{_i64(op['hi'])}); /* {op['name']} */"
        ]
    if kind == "add":
        return [
            f"  bg_add({x[0]}, {x[1]}, {y}, {n}, {op['multiplier']}, {op['shift']}, {_i64(op['lo'])}, "
            f"{_i64(op['hi'])}); /* {op['name']} */"
        ]
    if kind in ("avgpool", "maxpool"):
        c, ih, iw = _chw(manifest["tensors"][op["inputs"][0]]["shape"])
        _, oh, ow = _chw(out_shape)
        avg = kind == "avgpool"
        q = [op["pre_shift"], op["multiplier"], op["shift"], _i64(op["lo"]), _i64(op["hi"])] if avg else [0, 0, 0, 0, 0]
        args = [0 if avg else 1, x[0], y, c, ih, iw, oh, ow, *op["kernel"], *op["stride"], *op["pads"][:2], *q]
        return [f"  bg_pool({', '.join(str(a) for a in args)}); /* {op['name']} */"]
    if kind == "relu":
        return [
            f"  for (int32_t i = 0; i < {n}; i++) {{ int64_t v = bg_ld({x[0]}, i); bg_st({y}, i, v > 0 ? v : 0); }}"
        ]
    if kind == "affine":
        c, h, w = _chw(out_shape)
        tag = ident(f"{op['name']}_{op['output']}")
        for key, dtype in (("sign", np.int32), ("bias", np.int32), ("multiplier", np.int32), ("shift", np.int32)):
            extra.append(array_literal(f"bg_{tag}_{key}", np.asarray(op[key], dtype=dtype), f"{op['name']} {key}"))
        return [
            f"  for (int32_t ch = 0; ch < {c}; ch++) for (int32_t i = 0; i < {h * w}; i++) {{ /* {op['name']} */",
            f"    int64_t t = bg_sat(bg_ld({x[0]}, ch * {h * w} + i) * bg_{tag}_sign[ch] + bg_{tag}_bias[ch], "
            "INT32_MIN, INT32_MAX);",
            f"    bg_st({y}, ch * {h * w} + i, bg_requant(t, bg_{tag}_multiplier[ch], bg_{tag}_shift[ch], "
            f"{_i64(op['lo'])}, {_i64(op['hi'])}));",
            "  }",
        ]
    if kind == "concat":
        lines, start = [], 0
        for t, xi in zip(op["inputs"], x, strict=True):
            size = int(np.prod(manifest["tensors"][t]["shape"]))
            lines.append(f"  for (int32_t i = 0; i < {size}; i++) bg_st({y}, {start} + i, bg_ld({xi}, i));")
            start += size
        return lines
    if kind == "clamp":
        return [
            f"  for (int32_t i = 0; i < {n}; i++) bg_st({y}, i, bg_sat(bg_ld({x[0]}, i), {_i64(op['lo'])}, "
            f"{_i64(op['hi'])}));"
        ]
    if kind == "flatten":
        return [f"  /* {op['name']}: flatten, a view of its input's bytes (same arena offset) */"]
    raise ValueError(f"no C for op {kind!r}")


def render(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[str, str, dict[str, int]]:
    """(model.c, model.h, RAM figures) of a reference manifest."""
    plan = ram_plan(manifest, input_in_arena=True)
    notes = array_notes(manifest)
    data = [array_literal(f"bg_{name}", a, notes.get(name, name)) for name, a in arrays.items()]
    extra: list[str] = []
    body = []
    for op in manifest["ops"]:
        body += _op_lines(op, manifest, plan.offsets, extra)
    inp, out = manifest["input"], manifest["output"]
    zp = -128 if inp["hi"] > 127 else 0
    n_in, n_out = int(np.prod(inp["shape"])), int(np.prod(out["shape"]))
    arena_words = max(-(-plan.arena_bytes // 4), 1)
    c = "\n".join(
        [
            "/* Generated by bitgate (deploy, flavour reference): portable C99 integer model. Do not edit. */",
            '#include "model.h"',
            "",
            "#include <stddef.h>",
            "#include <stdint.h>",
            kernels(manifest),
            *data,
            *extra,
            "",
            f"static int32_t bg_arena_words[{arena_words}]; /* {plan.arena_bytes} bytes of activations */",
            "",
            "int bg_infer(const int8_t *in, int8_t *out)",
            "{",
            f"  for (int32_t i = 0; i < {n_in}; i++) bg_st({_t(manifest, inp['id'], plan.offsets)}, i, "
            f"(int64_t)in[i] - ({zp}));",
            *body,
            f"  for (int32_t i = 0; i < {n_out}; i++) "
            f"out[i] = (int8_t)bg_ld({_t(manifest, out['id'], plan.offsets)}, i);",
            "  return 0;",
            "}",
            "",
        ]
    )
    ram = {
        "arena_bytes": plan.arena_bytes,
        "scratch_bytes": 0,
        "ram_bytes": plan.arena_bytes,
        "peak_live_bytes": plan.peak_live_bytes,
    }
    return c, header(manifest, plan.arena_bytes, 0), ram
