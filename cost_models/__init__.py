"""Differentiable cost models, priced exactly at one-hot choices, looked up by name.

Importing the package registers the built-in models: size, size_bits, memory, macs,
bitops, peak_activation_ram, latency_mpic, latency_gap8, latency_ne16, latency_cortexm, size_sparse.
"""

from cost_models import (  # noqa: F401
    activation_ram,
    latency_cortexm,
    latency_gap8,
    latency_mpic,
    latency_ne16,
    ops,
    size,
    size_sparse,
)
from cost_models.registry import (
    CostFn,
    CostModel,
    UnknownCostModel,
    applicable,
    evaluate,
    evaluate_all,
    for_family,
    get,
    layer_terms,
    names,
    register,
)

__all__ = [
    "CostFn",
    "CostModel",
    "UnknownCostModel",
    "applicable",
    "evaluate",
    "evaluate_all",
    "for_family",
    "get",
    "layer_terms",
    "names",
    "register",
]
