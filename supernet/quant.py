"""Fake quantizers with straight-through gradients: per-channel weights and PACT activations.

Weights: symmetric, per output channel, restricted range (levels -(2^(b-1)-1)..2^(b-1)-1),
so +x and -x quantize alike and the integer export needs no zero point. The step of each
channel is the one that minimises the channel's squared quantization error, among clipping
points at k/16 of its largest |W| (k = 1..16), for 2..4 bits (wider grids keep the max, which the
search picks there anyway): set by the channel's maximum, a 2-bit (ternary)
grid zeroes every weight below half that maximum, which on ResNet-8/CIFAR-10 cost ~12 pp at w2.
The step is a pure function of W (detached), so the exporter recomputes exactly the same grid.
1 bit is sign(W) times the channel's mean |W| (XNOR-Net style, seed 002's binary layers), which
is also the MSE-optimal binary step. 0 bits is the pruned channel: all zeros.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

_EPS = 1e-12
CLIP_CANDIDATES = 16  # clipping points k/16 * max|W|, k = 1..16 (the last one is the channel's max)
MSE_MAX_BITS = 4  # wider grids lose nothing to the max-based step (the search picks the max at 8 bits)


def round_ste(x: Tensor) -> Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return x + (x.round() - x).detach()


def _rows(w: Tensor) -> Tensor:
    return w.reshape(w.shape[0], -1)


def weight_qmax(bits: int) -> int:
    """Largest integer level of a b-bit weight (restricted, symmetric range)."""
    return 2 ** (bits - 1) - 1


def constant(values: tuple[float, ...], like: Tensor) -> Tensor:
    """A small constant tensor on `like`'s device and dtype, made once: building it per call from Python
    data would be a blocking host-to-device copy in every step on a GPU."""
    return _constant(tuple(values), like.dtype, like.device)


@functools.lru_cache(maxsize=256)
def _constant(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    with torch.inference_mode(False), torch.no_grad():  # a plain tensor even when first asked in inference mode
        return torch.tensor(values, dtype=dtype, device=device)


def _candidates(amax: Tensor, levels: list[int]) -> Tensor:
    """Clip candidates k/16 * amax / q for every q in `levels`, stacked: (len(levels) * K, C)."""
    ratios = constant(tuple(k / CLIP_CANDIDATES for k in range(1, CLIP_CANDIDATES + 1)), amax)
    scaled = ratios.unsqueeze(1) * amax.unsqueeze(0)  # (K, C)
    parts = [(scaled / q).clamp_min(_EPS) for q in levels]  # divided by the Python int, as one bit-width alone
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def _row_dot(r: Tensor, rows: Tensor) -> Tensor:
    """sum_n r[k, c, n] * rows[c, n], shape (k, c): einsum("kcn,cn->kc") without its reshapes (the same bmm)."""
    return torch.bmm(r.permute(1, 0, 2), rows.unsqueeze(-1)).squeeze(-1).T


@torch.no_grad()
def _steps(w: Tensor, bits: list[int], input_weight: Tensor | None) -> Tensor:
    """Per-channel steps of the bit-widths `bits` (all >= 2), shape (len(bits), C_out).

    Up to MSE_MAX_BITS: the candidate clip with the least (input-weighted) squared error, ties to
    the largest clip, so a channel whose error is flat (e.g. all zeros) keeps the max-based step.
    Wider: max|W| / qmax. One function for the stacked and the single quantizer: bit for bit alike.
    Every MSE bit-width is searched in one batched pass (the same arithmetic per candidate as one at a time).
    """
    rows = _rows(w)
    weight = _rows(torch.ones_like(w) * input_weight) if input_weight is not None else None
    amax = (rows.abs() * weight if weight is not None else rows.abs()).amax(1)  # (C,)
    qmax = constant(tuple(weight_qmax(b) for b in bits), w)
    steps = amax.unsqueeze(0) / qmax.unsqueeze(1)  # (n, C): max-based
    mse = [i for i, b in enumerate(bits) if b <= MSE_MAX_BITS]
    if not mse:
        return steps
    levels = [weight_qmax(bits[i]) for i in mse]
    k, m = CLIP_CANDIDATES, len(mse)
    cand = _candidates(amax, levels)  # (m * K, C)
    bound = constant(tuple(q for q in levels for _ in range(k)), w).reshape(-1, 1, 1)
    r = torch.round(rows / cand.unsqueeze(-1)).clamp_(-bound, bound)  # (m * K, C, N) integer levels
    # sum_n w_n (x_n - s r_n)^2 = const - 2 s sum_n w_n x_n r_n + s^2 sum_n w_n r_n^2 (w_n: input weight)
    wx = rows * weight if weight is not None else rows
    cross = _row_dot(r, wx)
    sq = _row_dot(r.square_(), weight) if weight is not None else r.square_().sum(-1)
    err = cand * (cand * sq - 2 * cross)  # (m * K, C), up to the per-channel constant
    best = (k - 1) - err.view(m, k, -1).flip(1).argmin(1)  # (m, C), ties to the largest clip
    chosen = cand.view(m, k, -1).gather(1, best.unsqueeze(1)).squeeze(1)
    if mse == list(range(m)):  # bits are sorted: the MSE widths come first
        steps[:m] = chosen
    else:
        steps[mse] = chosen
    return steps


def weight_scale(w: Tensor, bits: int, input_weight: Tensor | None = None) -> Tensor:
    """Per-output-channel step size, shape (C_out,). Detached: the grid follows the weights.

    `input_weight` (broadcastable to w) down-weights inputs that are pruned, so the
    grid is set by the weights that will survive in the deployed, smaller layer.
    """
    a = _rows((w.detach().abs() * input_weight) if input_weight is not None else w.detach().abs())
    if bits == 1:
        if input_weight is None:
            return a.mean(1)
        kept = _rows(torch.ones_like(w) * input_weight).sum(1)
        return a.sum(1) / kept.clamp_min(_EPS)
    return _steps(w.detach(), [bits], input_weight)[0]


def quantize_weight(w: Tensor, bits: int, input_weight: Tensor | None = None) -> Tensor:
    """Fake-quantize `w` per output channel at `bits` (0 = pruned) with a straight-through gradient."""
    if bits == 0:
        return torch.zeros_like(w)
    shape = (-1,) + (1,) * (w.dim() - 1)
    scale = weight_scale(w, bits, input_weight).clamp_min(_EPS).reshape(shape)
    if bits == 1:
        q = torch.where(w >= 0, scale, -scale)
    else:
        qmax = weight_qmax(bits)
        q = torch.clamp(torch.round(w / scale), -qmax, qmax) * scale
    return w + (q - w).detach()


def quantize_weight_stack(w: Tensor, bits: tuple[int, ...], input_weight: Tensor | None = None) -> Tensor:
    """torch.stack([quantize_weight(w, b, input_weight) for b in bits]), bit for bit, with fewer ops.

    The bit-widths b >= 2 choose their steps in one batched error search and run the same
    elementwise ops on one (n, *w.shape) tensor: a dozen ops per searched layer instead of a
    dozen per bit-width.
    """
    multi = [b for b in bits if b >= 2]
    out = {b: quantize_weight(w, b, input_weight) for b in bits if b < 2}  # 0 (zeros) and 1 (sign * mean)
    if multi:
        qmax = constant(tuple(weight_qmax(b) for b in multi), w)
        scale = _steps(w.detach(), multi, input_weight).clamp_min(_EPS)
        scale = scale.reshape((len(multi), -1) + (1,) * (w.dim() - 1))
        bound = qmax.reshape((-1,) + (1,) * w.dim())
        q = torch.clamp(torch.round(w.detach().unsqueeze(0) / scale), -bound, bound) * scale
        ste = w.unsqueeze(0) + (q - w.detach().unsqueeze(0))  # straight-through: value q, gradient identity
        if len(multi) == len(bits):
            return ste
        out.update(zip(multi, ste.unbind(0), strict=True))
    return torch.stack([out[b] for b in bits])


Groups = tuple[tuple[int, ...], Tensor]  # (distinct bit-widths, each channel's index among them)


def precision_groups(bits: Tensor) -> Groups:
    """(the distinct bit-widths, each channel's index among them) of a (C_out,) bits tensor: read on the
    host, so a caller whose bits are fixed (a fine-tuned layer) computes it once, not every step."""
    options = tuple(sorted({int(b) for b in bits.tolist()}))
    index = torch.tensor([options.index(int(b)) for b in bits.tolist()], dtype=torch.long, device=bits.device)
    return options, index


def quantize_weight_per_channel(w: Tensor, bits: Tensor, groups: Groups | None = None) -> Tensor:
    """Fake-quantize each output channel of `w` at its own bit-width (`bits` is a (C_out,) int tensor).

    Every channel is quantized at each of the layer's widths in one stacked pass and picks its own: a
    channel's grid depends on its row alone, so this equals quantizing each precision group apart, with a
    handful of ops instead of a dozen per group. `groups`: precision_groups(bits), when known.
    """
    options, index = groups if groups is not None else precision_groups(bits)
    if len(options) == 1:
        return quantize_weight(w, options[0])
    stacked = quantize_weight_stack(w, options)  # (n, C_out, ...)
    return stacked[index, torch.arange(w.shape[0], device=w.device)]


def activation_levels(bits: int, signed: bool) -> int:
    """Largest integer level of an activation quantizer (restricted range when signed)."""
    return 2 ** (bits - 1) - 1 if signed else 2**bits - 1


def quantize_activation(x: Tensor, clip: Tensor, bits: int, signed: bool) -> Tensor:
    """PACT: clamp to [-clip, clip] (signed) or [0, clip], then a uniform grid; `clip` gets gradients.

    Gradients: d/dx = 1 strictly inside the clip range, 0 outside. d/dclip = 1 for x >= clip, -1 for
    x <= -clip (signed), and (round(u) - u) / levels inside (u = x / step: the rounding-error term that
    the composition clamp -> divide -> round_ste -> multiply produces). One fused autograd function:
    written with torch.minimum/maximum the quantizer made a ResNet-8 training step ~2x slower.
    """
    return _Pact.apply(x, clip, activation_levels(bits, signed), signed)


_hardtanh_backward = torch.ops.aten.hardtanh_backward  # g where lo < x < hi, in one pass


class _Pact(torch.autograd.Function):
    """The clip stays a device tensor throughout: reading it on the host (float(clip)) would wait for the
    device at every quantizer in both passes.

    The backward needs "strictly inside (lo, clip)" per element. Comparing x with a device tensor and then
    selecting by a bool mask is 3-4x slower on the CPU than hardtanh_backward, which takes host scalars; so
    it runs on u = x / clip against the constants lo / clip in {-1, 0} and 1. For floats 0 < a < b, a / b
    rounds to at most the float below 1 (IEEE division is monotone), and x == clip gives exactly 1, so u
    selects exactly the elements x does (up to an x so tiny that x / clip underflows to 0: none in practice).
    """

    @staticmethod
    def forward(ctx, x: Tensor, clip: Tensor, levels: int, signed: bool) -> Tensor:  # type: ignore[override]
        # clamping x / step to the levels rounds to what clamping x to the clip first rounds to (clip / step is
        # within rounding error of `levels`), and the bounds are host constants: no read of the clip
        step = clip / levels
        q = (x / step).clamp_(-levels if signed else 0, levels).round_().mul_(step)
        ctx.save_for_backward(x, clip, q)
        ctx.signed = signed
        return q

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:  # type: ignore[override]
        x, clip, q = ctx.saved_tensors
        u, lo = x / clip, (-1.0 if ctx.signed else 0.0)
        grad_x = _hardtanh_backward(g, u, lo, 1.0) if ctx.needs_input_grad[0] else None  # g strictly inside
        grad_clip = None
        if ctx.needs_input_grad[1]:
            # dq/dclip = (q - x) / clip inside; q / clip outside, which is 1 at and above the clip,
            # -1 at and below -clip (signed) and 0 below 0 (unsigned). In one expression:
            # (q - x_inside) / clip, with x_inside = x inside the range and 0 elsewhere.
            x_inside = _hardtanh_backward(x, u, lo, 1.0)
            grad_clip = (torch.dot(g.flatten(), (q - x_inside).flatten()) / clip).reshape(clip.shape)
        return grad_x, grad_clip, None, None
