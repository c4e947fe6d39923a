"""Small helpers shared by the cost models, so each cost file is only its formula.

Everything is computed in float64: counts such as bitops exceed 2**24, where float32
stops representing integers, and the one-hot result must equal the discrete cost exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from supernet.spec import LayerChoice
from targets.target import Target

F64 = torch.float64


def ceil_ste(x: Tensor) -> Tensor:
    """ceil(x) in the forward pass, identity gradient in the backward pass (straight-through)."""
    return x + (torch.ceil(x) - x).detach()


def zero(choices: Sequence[LayerChoice]) -> Tensor:
    """A float64 scalar 0 on the choices' device (the cost of an empty network)."""
    device = choices[0].weight_probs.device if choices else None
    return torch.zeros((), dtype=F64, device=device)


def theta(choice: LayerChoice) -> Tensor:
    """Weight-bit probabilities (|B|, C_out) as float64."""
    return choice.weight_probs.to(F64)


def kept_out(choice: LayerChoice) -> Tensor:
    """Expected number of kept output channels: sum_c keep_c."""
    return choice.keep.to(F64).sum()


def kept_in(choice: LayerChoice) -> Tensor:
    """Expected number of kept input channels: sum_j in_keep_j (for depthwise: its own keep)."""
    return choice.in_keep.to(F64).sum()


def in_features(choice: LayerChoice) -> Tensor:
    """Expected kept input features per position (a flattened channel spans in_unit features)."""
    return kept_in(choice) * choice.spec.in_unit


def weights_per_channel(choice: LayerChoice) -> Tensor:
    """Expected weights of one output channel after input pruning.

    wpc_eff = sum(in_keep) * in_unit / groups * kernel_numel; a depthwise channel sees only
    its own input channel, so its input pruning is already its output pruning: kernel_numel.
    Grouped (non-depthwise) convs assume pruning stays balanced across groups.
    """
    spec = choice.spec
    if spec.depthwise:
        return torch.tensor(float(spec.kernel_numel), dtype=F64, device=choice.in_keep.device)
    return in_features(choice) / spec.groups * spec.kernel_numel


def out_positions(choice: LayerChoice) -> int:
    """How often each weight is used per inference (output pixels; 1 for linear)."""
    return choice.spec.out_positions


def in_positions(choice: LayerChoice) -> int:
    """Input pixels of a conv (1 for linear); refuses a conv spec without in_spatial."""
    spec = choice.spec
    if spec.kind == "conv" and not spec.in_spatial:
        raise ValueError(f"layer {spec.name!r}: conv LayerSpec needs in_spatial for activation costs")
    return math.prod(spec.in_spatial) if spec.in_spatial else 1


def channel_mass(choice: LayerChoice, target: Target) -> list[tuple[int, Tensor]]:
    """[(bits, expected number of channels at bits)] for every non-zero option.

    Refuses an option that the target cannot store, unless its probability is exactly 0
    everywhere (a one-hot architecture never pays for options it does not use).
    """
    probs = theta(choice)
    out = []
    for i, bits in enumerate(choice.weight_bits):
        if bits == 0:
            continue
        if bits not in target.storage_bits and bool((probs[i] > 0).any()):
            raise ValueError(
                f"layer {choice.spec.name!r} uses {bits}-bit weights but target {target.name!r} "
                f"supports only {sorted(target.storage_bits)}"
            )
        out.append((bits, probs[i].sum()))
    return out


def expected_bits(bits: Sequence[int], probs: Tensor) -> Tensor:
    """sum_b b * p_b (e.g. the expected activation bit-width of a layer)."""
    return (torch.tensor(bits, dtype=F64, device=probs.device) * probs.to(F64)).sum()


def bit_probs(bits: Sequence[int], probs: Tensor) -> list[tuple[int, Tensor]]:
    """[(bits, probability)] pairs as float64 scalars."""
    return [(b, p) for b, p in zip(bits, probs.to(F64).unbind(0), strict=True)]


def param(target: Target, key: str, default: float) -> float:
    """A numeric constant from target.params, with the cost model's documented default."""
    value = target.params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"target {target.name!r}: params.{key} must be a number, got {value!r}")
    return float(value)
