"""Fake quantizers with straight-through gradients: per-channel weights and PACT activations.

Weights: symmetric, per output channel, restricted range (levels -(2^(b-1)-1)..2^(b-1)-1),
so +x and -x quantize alike and the integer export needs no zero point. 1 bit is
sign(W) times the channel's mean |W| (XNOR-Net style, seed 002's binary layers).
0 bits is the pruned channel: all zeros.
"""

from __future__ import annotations

import torch
from torch import Tensor

_EPS = 1e-12


def round_ste(x: Tensor) -> Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return x + (x.round() - x).detach()


def _rows(w: Tensor) -> Tensor:
    return w.reshape(w.shape[0], -1)


def weight_scale(w: Tensor, bits: int, input_weight: Tensor | None = None) -> Tensor:
    """Per-output-channel step size, shape (C_out,). Detached: the grid is not learned.

    `input_weight` (broadcastable to w) down-weights inputs that are pruned, so the
    grid is set by the weights that will survive in the deployed, smaller layer.
    """
    a = _rows((w.detach().abs() * input_weight) if input_weight is not None else w.detach().abs())
    if bits == 1:
        if input_weight is None:
            return a.mean(1)
        kept = _rows(torch.ones_like(w) * input_weight).sum(1)
        return a.sum(1) / kept.clamp_min(_EPS)
    return a.amax(1) / (2 ** (bits - 1) - 1)


def quantize_weight(w: Tensor, bits: int, input_weight: Tensor | None = None) -> Tensor:
    """Fake-quantize `w` per output channel at `bits` (0 = pruned) with a straight-through gradient."""
    if bits == 0:
        return torch.zeros_like(w)
    shape = (-1,) + (1,) * (w.dim() - 1)
    scale = weight_scale(w, bits, input_weight).clamp_min(_EPS).reshape(shape)
    if bits == 1:
        q = torch.where(w >= 0, scale, -scale)
    else:
        qmax = 2 ** (bits - 1) - 1
        q = torch.clamp(torch.round(w / scale), -qmax, qmax) * scale
    return w + (q - w).detach()


def quantize_weight_stack(w: Tensor, bits: tuple[int, ...], input_weight: Tensor | None = None) -> Tensor:
    """torch.stack([quantize_weight(w, b, input_weight) for b in bits]), bit for bit, with fewer ops.

    The bit-widths b >= 2 share each channel's max |w| and run the same elementwise ops on one
    (n, *w.shape) tensor: a dozen ops per searched layer instead of a dozen per bit-width.
    """
    multi = [b for b in bits if b >= 2]
    out = {b: quantize_weight(w, b, input_weight) for b in bits if b < 2}  # 0 (zeros) and 1 (sign * mean)
    if multi:
        a = _rows((w.detach().abs() * input_weight) if input_weight is not None else w.detach().abs()).amax(1)
        qmax = torch.tensor([2 ** (b - 1) - 1 for b in multi], dtype=w.dtype, device=w.device)
        scale = (a.unsqueeze(0) / qmax.unsqueeze(1)).clamp_min(_EPS).reshape((len(multi), -1) + (1,) * (w.dim() - 1))
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
