"""MPIC latency: a RISC-V core with sub-byte SIMD where fewer bits also mean fewer cycles.

cycles = sum over layers, activation bits a and weight bits w of MACs(a, w) / LUT[a][w]
with LUT in MAC/cycle measured on MPIC (Ottavi et al. 2020, "A Mixed-Precision RISC-V
Processor for Extreme-Edge DNN Inference", arXiv 2010.04073). MACs(a, w) =
P(act = a) * out_positions * wpc_eff * sum_c theta[w, c]; 0-bit channels cost nothing.

The LUT is read from target.params["mac_per_cycle"], a table keyed "a<bits>" whose
values are tables keyed "w<bits>" (see targets/devices/mpic.toml); plain integer keys work too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from cost_models.common import zero
from cost_models.registry import for_family, register
from cost_models.stacked import refuse_unstorable, stack
from supernet.spec import LayerChoice
from targets.target import Target


def _bits_key(key: Any, prefix: str) -> int:
    text = str(key)
    return int(text[1:] if text.startswith(prefix) else text)


def mac_per_cycle_lut(target: Target) -> dict[int, dict[int, float]]:
    """LUT[a][w] in MAC/cycle from target.params, with integer keys."""
    raw = target.params.get("mac_per_cycle")
    if not isinstance(raw, dict):
        raise ValueError(f"target {target.name!r}: params.mac_per_cycle (LUT[a][w] in MAC/cycle) is missing")
    try:
        return {_bits_key(a, "a"): {_bits_key(w, "w"): float(v) for w, v in row.items()} for a, row in raw.items()}
    except (AttributeError, TypeError, ValueError) as exc:
        msg = f"target {target.name!r}: params.mac_per_cycle must look like a8 = {{w8 = 2.1}}: {exc}"
        raise ValueError(msg) from None


def mpic_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected cycles of every layer, shape (L,)."""
    lut = mac_per_cycle_lut(target)
    if not choices:
        return zero(choices).new_zeros(0)
    s = stack(choices)
    refuse_unstorable(s, tuple(target.storage_bits), target.name)
    acts, weights = s.geometry.act_options, s.options
    missing = [(i, j) for i, a in enumerate(acts) for j, w in enumerate(weights) if w and w not in lut.get(a, {})]
    for i, j in missing:  # a pair the LUT lacks may exist as options, but must not be chosen (reads the device)
        if bool(((s.act[:, i] > 0) & (s.mass[:, j] > 0)).any()):
            pair = f"a{acts[i]}/w{weights[j]}"
            raise ValueError(f"target {target.name!r}: no MPIC throughput for {pair} in mac_per_cycle")
    table = s.column([lut.get(a, {}).get(w, 1.0) if w else 1.0 for a in acts for w in weights]).view(len(acts), -1)
    used = s.column([float(bool(w) and w in lut.get(a, {})) for a in acts for w in weights]).view(len(acts), -1)
    per_channel_macs = s.geometry.out_positions * s.weights_per_channel  # (L,)
    # p_a * macs_per_channel * n_w / LUT[a][w] for every layer, a and w (as one layer at a time computes it)
    terms = (s.act * per_channel_macs.unsqueeze(1)).unsqueeze(2) * s.mass.unsqueeze(1) / table * used
    return terms.sum((1, 2))


@register("latency_mpic", unit="cycles", applies_to=for_family("mpic"), terms=mpic_terms)
def latency_mpic(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected cycles on MPIC: MACs split by (activation bits, weight bits), each at its LUT throughput."""
    return mpic_terms(choices, target).sum()
