"""Weight and activation fake-quantizers: grids, hand-computed values, straight-through gradients."""

from __future__ import annotations

import pytest
import torch

from supernet import to_supernet
from supernet.layers import ActQuant
from supernet.quant import (
    activation_levels,
    quantize_activation,
    quantize_weight,
    quantize_weight_per_channel,
    quantize_weight_stack,
    round_ste,
    weight_scale,
)

W = torch.tensor([[0.9, -0.3, 0.1, 0.0], [-2.0, 0.5, 1.2, -0.7]])


@pytest.mark.parametrize(
    ("bits", "codes", "steps"),
    [
        # row 1: the max (0.9) is also the least-error ternary step (error 0.1); row 2: among k/16 * 2.0,
        # k = 13 (step 1.625) has the least error, 1.061 (k = 16, the max: 1.38; k = 12: 1.08).
        (2, [[1, 0, 0, 0], [-1, 0, 1, 0]], [0.9, 1.625]),
        (8, [[127, -42, 14, 0], [-127, 32, 76, -44]], [0.9 / 127, 2.0 / 127]),  # 8 bits: max |w| / 127
    ],
)
def test_weight_quantizer_hand_values(bits: int, codes: list[list[int]], steps: list[float]) -> None:
    scale = torch.tensor(steps).reshape(2, 1)
    assert torch.allclose(weight_scale(W, bits), scale.flatten(), atol=1e-6)
    assert torch.allclose(quantize_weight(W, bits), torch.tensor(codes, dtype=torch.float32) * scale, atol=1e-6)


def _least_error_step(row: torch.Tensor, bits: int) -> float:
    """Reference written out: try every clip k/16 * max|w|, keep the least squared error (ties: larger)."""
    qmax = 2 ** (bits - 1) - 1
    best = None
    for k in range(1, 17):
        step = k / 16 * float(row.abs().max()) / qmax
        err = float(((row / step).round().clamp(-qmax, qmax) * step - row).pow(2).sum())
        if best is None or err <= best[0] + 1e-9 * max(best[0], 1e-12):
            best = (err, step)
    return best[1]


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_low_bit_step_minimises_the_error_over_clip_candidates(bits: int) -> None:
    torch.manual_seed(0)
    w = torch.randn(6, 40, dtype=torch.float64) * torch.rand(6, 1, dtype=torch.float64)
    got = weight_scale(w, bits)
    for c in range(6):
        assert float(got[c]) == pytest.approx(_least_error_step(w[c], bits), rel=1e-9)
    qmax = 2 ** (bits - 1) - 1
    max_based = (w / (w.abs().amax(1, keepdim=True) / qmax)).round().clamp(-qmax, qmax) * (
        w.abs().amax(1, keepdim=True) / qmax
    )
    assert (quantize_weight(w, bits) - w).pow(2).sum() < (max_based - w).pow(2).sum()  # strictly better here


def test_two_bit_grid_keeps_more_weights_than_a_max_based_ternary_grid() -> None:
    torch.manual_seed(1)
    w = torch.randn(16, 3 * 3 * 32)  # a Gaussian conv layer: max |w| is about 3 sigma
    nonzero = (quantize_weight(w, 2) != 0).float().mean()
    assert 0.45 < float(nonzero) < 0.8  # a max-based ternary grid keeps only |w| > 1.5 sigma: ~13%


def test_one_bit_is_sign_times_mean_abs_and_zero_bits_is_zero() -> None:
    # row means of |w|: 1.3 / 4 = 0.325 and 4.4 / 4 = 1.1; sign(0) counts as +
    expected = torch.tensor([[0.325, -0.325, 0.325, 0.325], [-1.1, 1.1, 1.1, -1.1]])
    assert torch.allclose(quantize_weight(W, 1), expected, atol=1e-6)
    conv_w = torch.randn(5, 3, 3, 3)
    q = quantize_weight(conv_w, 1)
    assert torch.allclose(q, torch.sign(conv_w) * conv_w.abs().mean((1, 2, 3), keepdim=True))
    zero = quantize_weight(conv_w, 0)
    assert zero.shape == conv_w.shape and not zero.any()


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_weight_levels_per_channel_are_restricted_and_symmetric(bits: int) -> None:
    qmax = 2 ** (bits - 1) - 1
    w = torch.randn(4, 500) * torch.tensor([[0.01], [0.1], [1.0], [10.0]])  # rows of very different ranges
    q = quantize_weight(w, bits)
    for row, qrow, scale in zip(w, q, weight_scale(w, bits), strict=True):
        codes = qrow / scale
        assert torch.allclose(codes, codes.round(), atol=1e-3)
        assert codes.round().abs().max() == qmax  # the largest weights sit on the top level (clipped)
        assert len(torch.unique(codes.round()[codes.round() > 0])) <= qmax
        assert scale * qmax <= row.abs().max() * (1 + 1e-6)  # the clip never exceeds the channel max
    assert torch.equal(quantize_weight(-w, bits), -q)  # restricted range: +x and -x quantize alike


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_weight_quantizer_gradient_is_identity(bits: int) -> None:
    w = torch.randn(3, 2, 3, 3, requires_grad=True)
    g = torch.randn_like(w)
    (quantize_weight(w, bits) * g).sum().backward()
    assert torch.equal(w.grad, g)


@pytest.mark.parametrize("bits", [1, 4])
def test_pruned_inputs_do_not_set_the_grid(bits: int) -> None:
    w = torch.randn(3, 4)
    w[:, 3] = 50.0  # a huge weight on an input channel that is pruned
    keep = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    q = quantize_weight(w, bits, input_weight=keep)
    assert torch.allclose(q[:, :3], quantize_weight(w[:, :3], bits))


def test_per_channel_mixed_quantizer_equals_per_row_quantization() -> None:
    w = torch.randn(6, 3, 3, 3, requires_grad=True)
    bits = torch.tensor([0, 2, 8, 4, 1, 8])
    q = quantize_weight_per_channel(w, bits)
    for c, b in enumerate(bits.tolist()):
        assert torch.equal(q[c], quantize_weight(w[c : c + 1].detach(), b)[0])
    g = torch.randn_like(w)
    (q * g).sum().backward()
    assert torch.equal(w.grad[bits > 0], g[bits > 0])
    assert not w.grad[bits == 0].any()


@pytest.mark.parametrize("bits", [(2, 4, 8), (1, 2, 4, 8), (0, 1, 8), (3,)])
@pytest.mark.parametrize("pruned_inputs", [False, True])
def test_stacked_quantizer_equals_one_bit_width_at_a_time(bits: tuple[int, ...], pruned_inputs: bool) -> None:
    w = torch.randn(6, 5, 3, 3, requires_grad=True)
    keep = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0]).reshape(1, -1, 1, 1) if pruned_inputs else None
    stacked = quantize_weight_stack(w, bits, keep)
    assert stacked.shape == (len(bits), *w.shape)
    for i, b in enumerate(bits):
        assert torch.equal(stacked[i], quantize_weight(w.detach(), b, keep))  # bit for bit
    mix = torch.rand(len(bits), 6, 1, 1, 1)
    (mix * stacked).sum().backward()
    expected = sum(mix[i] for i, b in enumerate(bits) if b > 0) * torch.ones_like(w)  # straight-through
    assert torch.allclose(w.grad, expected)


def test_gated_layer_mixes_the_quantized_copies(tiny_model) -> None:
    """W_eff[c] = sum_b theta[b, c] * Q_b(W)[c], written out with one quantize_weight call per option."""
    model, x = tiny_model("resnet")
    net = to_supernet(model, x, bits=(0, 1, 2, 4, 8))
    layer = net.layer("b2")
    with torch.no_grad():
        layer.gates.alpha.normal_()
        net.layer("b1").gates.alpha.normal_()  # b2's producer: its keep probabilities set b2's grid
    theta = layer.gates.probs()
    in_w = layer._input_weight()
    expected = sum(
        theta[i].reshape(-1, 1, 1, 1) * quantize_weight(layer.weight, b, in_w)
        for i, b in enumerate(layer.gates.options)
        if b
    )
    w_eff, keep = layer.effective_weight()
    assert torch.allclose(w_eff, expected, atol=1e-6) and torch.allclose(keep, 1 - theta[0])


def _pact_reference(x: torch.Tensor, clip: torch.Tensor, bits: int, signed: bool) -> torch.Tensor:
    """The quantizer written as plain autograd ops: clamp, divide, round (straight-through), multiply."""
    lo = -clip if signed else torch.zeros_like(clip)
    step = clip / activation_levels(bits, signed)
    return round_ste(torch.minimum(torch.maximum(x, lo), clip) / step) * step


def test_pact_unsigned_hand_values_and_gradients() -> None:
    x = torch.tensor([-0.3, 0.04, 0.06, 0.74, 1.5, 2.0], requires_grad=True)
    clip = torch.tensor(1.5, requires_grad=True)
    y = quantize_activation(x, clip, 4, signed=False)  # 15 levels: step 0.1
    assert torch.allclose(y, torch.tensor([0.0, 0.0, 0.1, 0.7, 1.5, 1.5]), atol=1e-6)
    y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0, 0.0]))  # STE inside (0, clip) only
    # d/dclip: rounding error (round(u) - u) / 15 inside (u = 0.4, 0.6, 7.4), 1 at and above the clip, 0 below 0
    assert clip.grad.item() == pytest.approx((-0.4 + 0.4 - 0.4) / 15 + 1 + 1, abs=1e-5)


def test_pact_signed_hand_values_and_gradients() -> None:
    x = torch.tensor([-2.0, -0.6, -0.4, 0.4, 0.6, 2.0], requires_grad=True)
    clip = torch.tensor(1.0, requires_grad=True)
    y = quantize_activation(x, clip, 2, signed=True)  # restricted range: levels -1, 0, 1
    assert torch.equal(y, torch.tensor([-1.0, -1.0, 0.0, 0.0, 1.0, 1.0]))
    (y * torch.arange(1.0, 7.0)).sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 2.0, 3.0, 4.0, 5.0, 0.0]))
    # -1 * 1 (below -clip) + (-0.4 * 2 + 0.4 * 3 - 0.4 * 4 + 0.4 * 5) (rounding errors) + 1 * 6 (above clip)
    assert clip.grad.item() == pytest.approx(5.8, abs=1e-5)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_pact_grid(bits: int, signed: bool) -> None:
    x = torch.linspace(-2.5, 2.5, 20001)
    clip = torch.tensor(1.7)
    y = quantize_activation(x, clip, bits, signed)
    levels = activation_levels(bits, signed)
    codes = y / (clip / levels)
    assert torch.allclose(codes, codes.round(), atol=1e-3)
    lo = -levels if signed else 0
    assert codes.round().min() == lo and codes.round().max() == levels
    assert len(torch.unique(y)) == levels - lo + 1  # a fine sweep of [-2.5, 2.5] hits every level, nothing else


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits", [2, 8])
def test_pact_matches_plain_autograd_composition(bits: int, signed: bool) -> None:
    """The fused quantizer computes the same values (bit for bit) and gradients as the plain ops."""
    x = torch.randn(16, 4, 5, 5) * 1.5
    g = torch.randn_like(x)
    outs, grads = [], []
    for fn in (quantize_activation, _pact_reference):
        xi, ci = x.clone().requires_grad_(), torch.tensor(1.3, requires_grad=True)
        y = fn(xi, ci, bits, signed)
        (y * g).sum().backward()
        outs.append(y.detach())
        grads.append((xi.grad, ci.grad))
    assert torch.equal(outs[0], outs[1])
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-6)
    assert torch.allclose(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-4)


def test_act_quant_module_disabled_and_searched() -> None:
    x = torch.randn(8, 3, 4, 4)
    fixed = ActQuant((8,), enabled=False)
    assert fixed(x) is x
    searched = ActQuant((2, 4, 8))
    with torch.no_grad():
        searched.clip.fill_(-1.2)  # the grid uses |clip|
        searched.signed.fill_(True)
    searched.gates.set_choice([4])
    searched.gates.mode = "hard"
    expected = quantize_activation(x, torch.tensor(1.2) + 1e-8, 4, signed=True)
    assert torch.equal(searched(x), expected)
    searched.gates.mode = "soft"
    searched.gates.alpha.data.zero_()  # uniform mix of the three grids
    mix = sum(quantize_activation(x, torch.tensor(1.2) + 1e-8, b, True) for b in (2, 4, 8)) / 3
    assert torch.allclose(searched(x), mix, atol=1e-6)
