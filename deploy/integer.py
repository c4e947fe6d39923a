"""Integer parameters of one FixedLayer: BN folded, per-channel integer weights, int32 bias.

The fake-quantized layer computes  y_c = a_c * (s_in * s_w,c * acc_c + bias_c - mu_c) + beta_c
with acc_c = sum(q_x * q_w) (integers), a_c = gamma_c / sqrt(var_c + eps) from the BatchNorm
(a = 1, mu = beta = 0 without one). Symmetric per-channel quantization is invariant to a positive
per-channel factor, so BN folds into the *scale*, never into the integers:

    y_c = S_c * (acc'_c + B_c / 2^k),   S_c = s_in * s_w,c * |a_c|,   B_c = round(b_c * 2^k / S_c)

where b_c = a_c * (bias_c - mu_c) + beta_c and acc'_c uses the integer weights times sign(a_c)
(a negative gamma flips the channel's integers, which keeps every scale positive). The weight
integers are exactly those of `quantize_weight`; only the int32 bias B_c is rounded.

k (`bias_frac_bits`, per layer) gives the bias k fractional bits: kernels add B_c to
(acc << k) and requantize with a shift larger by k. k = 0 is the CMSIS-NN / PULP-NN / Jacob et
al. 2018 convention, where the bias error reaches S_c / 2; with 2-bit weights S_c is coarse
(s_w = max|W|) and that error shifts a whole channel by up to a quarter of an output step, which
the fake-quantized (float-bias) training never saw. "auto" picks the largest k <= 16 for which
|acc| << k plus the bias cannot overflow int32 for any input (worst case sum|q_w| * max|q_x|).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from supernet.fixed import FixedLayer
from supernet.graph import UnsupportedModelError
from supernet.quant import _EPS, activation_levels, weight_scale

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_BIAS_FRAC_BITS = 16
DEAD_BIAS_BITS = 8  # bias steps of a channel with all-zero integer weights (before the k bias bits)


@dataclass(frozen=True)
class ActGrid:
    """A PACT activation grid: real value = q * scale, q in [lo, hi]."""

    scale: float
    lo: int
    hi: int
    bits: int
    signed: bool
    clip: float  # float32 clip as the fake quantizer uses it (|clip| + 1e-8)


@dataclass
class IntLayer:
    """Integer form of one layer, channels in the materialized (kept) order."""

    name: str
    kind: str  # "conv" or "linear"
    weight: np.ndarray  # int8, (O, I/groups, kh, kw) or (O, I); values within each channel's bits
    bits: np.ndarray  # (O,) weight bits per output channel
    weight_scale: np.ndarray  # (O,) float64, > 0: s_w,c * |a_c|
    bias: np.ndarray  # (O,) int32 in units of in_scale * weight_scale
    act: ActGrid  # input grid
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias_frac_bits: int = 0  # bias in units of acc_scale / 2^bias_frac_bits
    clamped_bias: int = 0  # channels whose bias saturated int32

    @property
    def acc_scale(self) -> np.ndarray:
        """Real value of one accumulator unit, per output channel."""
        return self.act.scale * self.weight_scale

    @property
    def sum_scale(self) -> np.ndarray:
        """Real value of one unit of (acc << bias_frac_bits) + bias: what the requantization sees."""
        return self.acc_scale / 2**self.bias_frac_bits


def act_grid(layer: FixedLayer) -> ActGrid:
    act = layer.act
    bits, signed = act.options[0], bool(act.signed)
    levels = activation_levels(bits, signed)
    clip = act.clip.detach().abs() + 1e-8  # exactly what ActQuant.forward uses
    step = clip / levels
    return ActGrid(float(step), -levels if signed else 0, levels, bits, signed, float(clip))


def weight_levels(bits: int) -> tuple[int, int]:
    """(qmin, qmax) of the integer weights at `bits` (1 bit: the binary -1 / +1). The one place that says
    which levels the export writes; it must follow supernet.quant.quantize_weight."""
    if bits == 1:
        return -1, 1
    qmax = 2 ** (int(bits) - 1) - 1
    return -qmax, qmax


def weight_integers(w: torch.Tensor, bits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(integers, per-channel scale) reproducing supernet.quant.quantize_weight channel by channel.

    Every flavour takes its weight integers and per-channel weight scales from here (and nowhere
    else), so a change of the weight quantizer's grid is adapted in this function and weight_levels."""
    q = torch.zeros_like(w)
    scale = torch.zeros(w.shape[0], dtype=w.dtype)
    shape = (-1,) + (1,) * (w.dim() - 1)
    for b in torch.unique(bits).tolist():
        rows = (bits == b).nonzero().flatten()
        wb = w[rows]
        s = weight_scale(wb, int(b)).clamp_min(_EPS)
        if b == 1:
            qb = torch.where(wb >= 0, 1.0, -1.0)
        else:
            qmin, qmax = weight_levels(int(b))
            qb = torch.clamp(torch.round(wb / s.reshape(shape)), qmin, qmax)
        q[rows], scale[rows] = qb, s
    return q, scale


def _pads(layer: FixedLayer, w: torch.Tensor) -> tuple[int, int, int, int]:
    op = layer.op
    if op.kind == "linear":
        return (0, 0, 0, 0)
    if isinstance(op.padding, str):
        if op.padding == "valid":
            return (0, 0, 0, 0)
        # 'same' (stride 1): PyTorch puts the extra pixel of an odd total at the end
        total = [d * (k - 1) for d, k in zip(op.dilation, w.shape[2:], strict=True)]
        begin = [t // 2 for t in total]
        end = [t - b for t, b in zip(total, begin, strict=True)]
        if op.dims == 1:
            return (0, begin[0], 0, end[0])
        return (begin[0], begin[1], end[0], end[1])
    p = list(op.padding)
    return (0, p[0], 0, p[0]) if op.dims == 1 else (p[0], p[1], p[0], p[1])


def _two(values: tuple[int, ...], dims: int) -> tuple[int, int]:
    return (1, values[0]) if dims == 1 else (values[0], values[1])


def _bias_frac_bits(q: torch.Tensor, beta: torch.Tensor, grid: ActGrid, requested: int | str) -> int:
    if requested != "auto":
        if not isinstance(requested, int) or not 0 <= requested <= 16:
            raise ValueError(f"bias_frac_bits must be 'auto' or an int in 0..16, got {requested!r}")
        return requested
    acc_max = q.abs().reshape(q.shape[0], -1).sum(1).double() * max(-grid.lo, grid.hi)
    for k in range(MAX_BIAS_FRAC_BITS, 0, -1):
        if bool(((acc_max + beta.abs() + 1) * 2**k <= INT32_MAX).all()):
            return k
    return 0


@torch.no_grad()
def integer_layer(name: str, layer: FixedLayer, bias_frac_bits: int | str = "auto") -> IntLayer:
    """Fold BN and quantize weights and bias of `layer` (see module docstring)."""
    w = layer.weight.detach().float()
    q, s_w = weight_integers(w, layer.bits)
    n_out = w.shape[0]
    bias = layer.bias.detach().double() if layer.bias is not None else torch.zeros(n_out, dtype=torch.float64)
    bn = layer.bn
    if bn is not None:
        gamma = bn.weight.detach().double() if bn.affine else torch.ones(n_out, dtype=torch.float64)
        beta = bn.bias.detach().double() if bn.affine else torch.zeros(n_out, dtype=torch.float64)
        a = gamma / torch.sqrt(bn.running_var.detach().double() + bn.eps)
        folded = a * (bias - bn.running_mean.detach().double()) + beta
    else:
        a, folded = torch.ones(n_out, dtype=torch.float64), bias
    sign = torch.where(a < 0, -1.0, 1.0)
    q = q * sign.float().reshape((-1,) + (1,) * (w.dim() - 1))
    grid = act_grid(layer)
    w_scale = s_w.double() * a.abs()
    # A channel whose integers are all 0 (zero weights, e.g. a folded gamma = 0, or a = 0) is the
    # constant b_c: its scale is free, so pick one that gives the bias 2^DEAD_BIAS_BITS steps.
    dead = (q.reshape(n_out, -1) == 0).all(1) | (w_scale == 0) | (s_w <= _EPS)
    binary = dead & (layer.bits == 1)
    if bool(binary.any()):
        c = int(binary.nonzero()[0])
        raise UnsupportedModelError(
            f"layer {name!r}: output channel {c} has 1-bit weights but its effective weights are all zero "
            "(BatchNorm gamma = 0?); a binary channel cannot be zero: prune it or give it >= 2 bits"
        )
    q[dead] = 0
    w_scale = torch.where(dead, folded.abs().clamp_min(1e-30) / (grid.scale * 2**DEAD_BIAS_BITS), w_scale)
    acc_scale = grid.scale * w_scale
    k = _bias_frac_bits(q, folded / acc_scale, grid, bias_frac_bits)
    b = torch.round(folded / acc_scale * 2**k)
    clamped = int(((b < INT32_MIN) | (b > INT32_MAX)).sum())
    b = b.clamp(INT32_MIN, INT32_MAX)
    op = layer.op
    weight = q.numpy().astype(np.int8)
    if op.kind == "conv" and op.dims == 1:
        weight = weight[:, :, None, :]
    return IntLayer(
        name=name,
        kind=op.kind,
        weight=weight,
        bits=layer.bits.numpy().astype(np.int64),
        weight_scale=w_scale.numpy(),
        bias=b.numpy().astype(np.int32),
        act=grid,
        stride=_two(op.stride, op.dims) if op.kind == "conv" else (1, 1),
        pads=_pads(layer, w),
        dilation=_two(op.dilation, op.dims) if op.kind == "conv" else (1, 1),
        groups=op.groups,
        bias_frac_bits=k,
        clamped_bias=clamped,
    )


WIDE_BITS = 32  # an int32 tensor (the reference flavour's sums at adds and average pools)


def rep_bits(lo: int, hi: int) -> int:
    """Bits a tensor with integers in [lo, hi] needs: the narrowest signed/unsigned width, else 32."""
    for bits in range(1, 9):
        if (lo >= 0 and hi < 2**bits) or (-(2 ** (bits - 1)) <= lo and hi < 2 ** (bits - 1)):
            return bits
    return WIDE_BITS
