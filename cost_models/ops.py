"""Device-independent compute: MACs and bit operations (BitOPs = MACs * b_w * b_a).

A MAC of output channel c uses every kept weight of c once per output position, so
MACs = out_positions * wpc_eff * sum_c keep_c. BitOPs weight each MAC by its weight and
input-activation bit-widths; with independent per-channel and per-layer choices the
expectation factorises: out_positions * wpc_eff * (sum_c sum_b b theta[b,c]) * E[b_a]
(the BitOPs metric used e.g. by EdMIPS, Cai & Vasconcelos 2020, arXiv 2004.05795).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from cost_models.common import channel_mass, expected_bits, kept_out, out_positions, weights_per_channel, zero
from cost_models.registry import register
from supernet.spec import LayerChoice
from targets.target import Target


def layer_macs(choice: LayerChoice) -> Tensor:
    """Expected MACs of one layer after input and output pruning."""
    return out_positions(choice) * weights_per_channel(choice) * kept_out(choice)


@register("macs", unit="MACs")
def macs(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected multiply-accumulates per inference."""
    total = zero(choices)
    for ch in choices:
        total = total + layer_macs(ch)
    return total


@register("bitops", unit="bitops")
def bitops(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected MACs weighted by weight bits times input activation bits (compute bits, not storage)."""
    total = zero(choices)
    for ch in choices:
        weight_bits = sum((bits * n for bits, n in channel_mass(ch, target)), zero(choices))
        per_channel_macs = out_positions(ch) * weights_per_channel(ch)
        total = total + per_channel_macs * weight_bits * expected_bits(ch.act_bits, ch.act_probs)
    return total
