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


@torch.no_grad()
def _steps(w: Tensor, bits: list[int], input_weight: Tensor | None) -> Tensor:
    """Per-channel steps of the bit-widths `bits` (all >= 2), shape (len(bits), C_out).

    Up to MSE_MAX_BITS: the candidate clip with the least (input-weighted) squared error, ties to
    the largest clip, so a channel whose error is flat (e.g. all zeros) keeps the max-based step.
    Wider: max|W| / qmax. One function for the stacked and the single quantizer: bit for bit alike.
    """
    rows = _rows(w)
    weight = _rows(torch.ones_like(w) * input_weight) if input_weight is not None else None
    amax = (rows.abs() * weight if weight is not None else rows.abs()).amax(1)  # (C,)
    qmax = torch.tensor([weight_qmax(b) for b in bits], dtype=w.dtype, device=w.device)
    steps = amax.unsqueeze(0) / qmax.unsqueeze(1)  # (n, C): max-based
    ratios = torch.arange(1, CLIP_CANDIDATES + 1, dtype=w.dtype, device=w.device) / CLIP_CANDIDATES
    for i, b in enumerate(bits):
        if b > MSE_MAX_BITS:
            continue
        q = weight_qmax(b)
        cand = (ratios.unsqueeze(1) * amax.unsqueeze(0) / q).clamp_min(_EPS).unsqueeze(-1)  # (K, C, 1)
        r = torch.round(rows / cand).clamp_(-q, q)  # (K, C, N) integer levels
        # sum_n w_n (x_n - s r_n)^2 = const - 2 s sum_n w_n x_n r_n + s^2 sum_n w_n r_n^2 (w_n: input weight)
        wx = rows * weight if weight is not None else rows
        cross = torch.einsum("kcn,cn->kc", r, wx)
        sq = torch.einsum("kcn,cn->kc", r.square_(), weight) if weight is not None else r.square_().sum(-1)
        s_ = cand.squeeze(-1)
        err = s_ * (s_ * sq - 2 * cross)  # (K, C), up to the per-channel constant
        best = (CLIP_CANDIDATES - 1) - err.flip(0).argmin(0)  # (C,), ties to the largest clip
        steps[i] = cand.squeeze(-1).gather(0, best.unsqueeze(0)).squeeze(0)
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
        qmax = torch.tensor([weight_qmax(b) for b in multi], dtype=w.dtype, device=w.device)
        scale = _steps(w.detach(), multi, input_weight).clamp_min(_EPS)
        scale = scale.reshape((len(multi), -1) + (1,) * (w.dim() - 1))
        bound = qmax.reshape((-1,) + (1,) * w.dim())
        q = torch.clamp(torch.round(w.detach().unsqueeze(0) / scale), -bound, bound) * scale
        ste = w.unsqueeze(0) + (q - w.detach().unsqueeze(0))  # straight-through: value q, gradient identity
        if len(multi) == len(bits):
            return ste
        out.update(zip(multi, ste.unbind(0), strict=True))
    return torch.stack([out[b] for b in bits])


def quantize_weight_per_channel(w: Tensor, bits: Tensor) -> Tensor:
    """Fake-quantize each output channel of `w` at its own bit-width (`bits` is a (C_out,) int tensor)."""
    out = torch.zeros_like(w)
    for b in torch.unique(bits).tolist():
        rows = (bits == b).nonzero().flatten()
        out = out.index_copy(0, rows, quantize_weight(w.index_select(0, rows), int(b)))
    return out


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
    @staticmethod
    def forward(ctx, x: Tensor, clip: Tensor, levels: int, signed: bool) -> Tensor:  # type: ignore[override]
        c, step = float(clip), clip / levels
        q = x.clamp(-c if signed else 0.0, c).div_(step).round_().mul_(step)
        ctx.save_for_backward(x, clip, q)
        ctx.signed = signed
        return q

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:  # type: ignore[override]
        x, clip, q = ctx.saved_tensors
        c = float(clip)
        lo = -c if ctx.signed else 0.0
        grad_x = _hardtanh_backward(g, x, lo, c)  # g strictly inside (lo, clip), 0 elsewhere
        grad_clip = None
        if ctx.needs_input_grad[1]:
            # dq/dclip = (q - x) / clip inside; q / clip outside, which is 1 at and above the clip,
            # -1 at and below -clip (signed) and 0 below 0 (unsigned). In one expression:
            # (q - x_inside) / clip, with x_inside = x inside the range and 0 elsewhere.
            x_inside = _hardtanh_backward(x, x, lo, c)
            grad_clip = (torch.dot(g.flatten(), (q - x_inside).flatten()) / clip).reshape(clip.shape)
        return (grad_x if ctx.needs_input_grad[0] else None), grad_clip, None, None
