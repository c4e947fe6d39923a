"""Search methods by name. Each takes the warmed-up float model and the run context and returns
the architecture it chose plus the supernet that holds the weights to materialize it from.

Every method writes the same arch.json/metrics.json, so `bitgate pareto` plots them together.
A method is one `@register_method(name, ...)` call (search/methods/registry.py: its MethodSpec)
and, when it has settings, one frozen options dataclass (search/methods/options.py).
"""

from __future__ import annotations

from search.methods.options import MethodOptions, require
from search.methods.registry import (
    METHODS,
    MethodSpec,
    get_method,
    method_names,
    method_spec,
    plot_slots,
    register_method,
    spec_of_label,
)
from search.methods.result import MethodFn, MethodResult

__all__ = [
    "METHODS",
    "MethodFn",
    "MethodOptions",
    "MethodResult",
    "MethodSpec",
    "get_method",
    "method_names",
    "method_spec",
    "plot_slots",
    "register_method",
    "require",
    "spec_of_label",
]
