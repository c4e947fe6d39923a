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

from cost_models.common import kept_out, out_positions, weights_per_channel, zero
from cost_models.registry import register
from cost_models.stacked import refuse_unstorable, stack
from supernet.spec import LayerChoice
from targets.target import Target


def layer_macs(choice: LayerChoice) -> Tensor:
    """Expected MACs of one layer after input and output pruning."""
    return out_positions(choice) * weights_per_channel(choice) * kept_out(choice)


def macs_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    if not choices:
        return zero(choices).new_zeros(0)
    s = stack(choices)
    return s.geometry.out_positions * s.weights_per_channel * s.kept_out


def bitops_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    if not choices:
        return zero(choices).new_zeros(0)
    s = stack(choices)
    refuse_unstorable(s, tuple(target.storage_bits), target.name)
    weight_bits = (s.mass * s.column(s.options)).sum(1)  # (L,) sum_b b * n_b
    per_channel_macs = s.geometry.out_positions * s.weights_per_channel
    return per_channel_macs * weight_bits * s.expected_act_bits()


@register("macs", unit="MACs", terms=macs_terms)
def macs(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected multiply-accumulates per inference."""
    return macs_terms(choices, target).sum()


@register("bitops", unit="bitops", terms=bitops_terms)
def bitops(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected MACs weighted by weight bits times input activation bits (compute bits, not storage)."""
    return bitops_terms(choices, target).sum()
