"""The Cortex-M latency model written layer by layer and call by call (its form before it was batched): the slow
reference the batched cost_models.latency_cortexm is checked against, on soft and one-hot choices alike."""

from __future__ import annotations

import torch
from torch import Tensor

from cost_models.common import F64, channel_mass, in_features, kept_out, theta, zero
from cost_models.cortexm_calls import conv_call, glue_call, layer_calls
from cost_models.cortexm_features import Call, fold
from cost_models.cortexm_rows import kind_of
from cost_models.cortexm_table import LatencyTable
from supernet.spec import GlueOp, LayerChoice


def price(table: LatencyTable, kind: str, call: Call, presence: Tensor | float = 1.0) -> Tensor | float:
    """Instructions of one call of `kind`; per-call features are weighted by `presence`."""
    total: Tensor | float = 0.0
    for varying, coefficient, once in fold(table.coefficients(kind_of(table, kind)), call):
        value: Tensor | float = coefficient
        for symbol in varying:
            value = value * call.symbol(symbol)
        total = total + (value * presence if once else value)
    return total


def layer_instructions(choice: LayerChoice, table: LatencyTable, target) -> Tensor:
    """Instructions of one layer: every precision group's kernel call and copies."""
    spec, probs = choice.spec, theta(choice)
    layer = layer_calls(spec, table.path)
    channel_mass(choice, target)  # refuses bit-widths the target has no kernel for
    depthwise, out_pixels = spec.depthwise, layer.out_pixels
    groups = [(i, b) for i, b in enumerate(choice.weight_bits) if b > 0]
    present = {i: 1 - torch.prod(1 - probs[i]) for i, _ in groups}
    total = zero([choice])
    c_in = None if depthwise else in_features(choice)
    for i, bits in groups:
        n = probs[i].sum()
        storage = 8 if bits > 4 else 4
        kind = layer.kinds[storage]
        call = conv_call(n, n if depthwise else c_in, **layer.geometry)
        others = 1 - torch.prod(torch.stack([1 - present[j] for j, _ in groups if j != i] or [1 + zero([choice])]))
        copies = price(table, "scatter", call, present[i]) if out_pixels > 1 else 0.0
        if depthwise:
            copies = copies + price(table, "gather", call, present[i])
        cost = price(table, kind, call, present[i]) + others * copies
        if depthwise and storage == 4 and any(layer.geometry["pad"]):
            odd = (torch.remainder(torch.round(n.detach()), 2) == 1).to(F64)
            padded = conv_call(n, n, **layer.padded)
            odd_cost = price(table, kind, padded, present[i]) + price(table, "pad", call, present[i])
            if out_pixels > 1:
                odd_cost = odd_cost + others * price(table, "scatter", call, present[i])
            cost = odd * odd_cost + (1 - odd) * cost
        total = total + cost
    return total


def glue_instructions(op: GlueOp, choices, table: LatencyTable) -> Tensor:
    """Instructions of one glue op of the deploy plan, from its expected kept channels."""
    kept = kept_out(choices[op.source]) if op.source is not None else torch.tensor(float(op.channels), dtype=F64)
    return zero(choices) + price(table, op.kind, glue_call(kept * op.per_channel, op.per_channel, op.window, op.inputs))


def instructions(choices, table: LatencyTable, target) -> Tensor:
    """Expected retired instructions: every layer, then every glue op of the cmsis-nn plan (bg_infer's included)."""
    total = zero(choices)
    for ch in choices:
        total = total + layer_instructions(ch, table, target)
    plan = choices.deploy_plan("cmsis-nn") if hasattr(choices, "deploy_plan") else None
    for op in plan.ops if plan is not None else ():
        total = total + glue_instructions(op, choices, table)
    return total
