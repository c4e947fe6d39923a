"""Arm Cortex-M latency with CMSIS-NN: 4-bit saves Flash, not cycles; groups cost calls.

CMSIS-NN has int8 kernels and packed-int4 weight kernels; the int4 path unpacks weights
to int16 and feeds the same dual 16-bit MAC (SMLAD) as int8, so both run at the same
throughput. There is no 2-bit kernel. A per-channel mixed layer deploys as one kernel
call per precision group, so

  cycles = sum_layers MACs / macs_per_cycle + call_overhead_cycles * E[#non-empty groups]

E[#non-empty groups] = sum_{b>0} (1 - prod_c (1 - theta[b, c])) is exact at one-hot theta.
Both constants come from target.params (see targets/devices/stm32*.toml for their sources).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cost_models.common import channel_mass, param, theta, zero
from cost_models.ops import layer_macs
from cost_models.registry import for_family, register
from supernet.spec import LayerChoice
from targets.target import Target


def expected_groups(choice: LayerChoice, target: Target) -> Tensor:
    """Expected number of precision groups with at least one channel in a layer."""
    probs = theta(choice)
    channel_mass(choice, target)  # refuses bit-widths the target has no kernel for
    total = zero([choice])
    for i, bits in enumerate(choice.weight_bits):
        if bits > 0:
            total = total + 1 - torch.prod(1 - probs[i])
    return total


@register("latency_cortexm", unit="cycles", applies_to=for_family("cortex-m"))
def latency_cortexm(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected cycles of CMSIS-NN kernels: MAC throughput plus a per-kernel-call overhead."""
    if "macs_per_cycle" not in target.params or "call_overhead_cycles" not in target.params:
        raise ValueError(f"target {target.name!r}: params.macs_per_cycle and params.call_overhead_cycles are required")
    mpc = param(target, "macs_per_cycle", 0.0)
    overhead = param(target, "call_overhead_cycles", 0.0)
    if mpc <= 0:
        raise ValueError(f"target {target.name!r}: params.macs_per_cycle must be positive, got {mpc}")
    total = zero(choices)
    for ch in choices:
        total = total + layer_macs(ch) / mpc + overhead * expected_groups(ch, target)
    return total
