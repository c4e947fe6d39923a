"""Search methods by name. Each takes the warmed-up float model and the run context and returns
the architecture it chose plus the supernet that holds the weights to materialize it from.

Every method writes the same arch.json/metrics.json, so `bitgate pareto` plots them together.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from search.config import SearchConfig
from search.context import RunContext
from supernet import Architecture, Supernet


@dataclass
class MethodResult:
    """net + arch (+ numbers for metrics.json). Two optional hooks for storage formats that a per-channel
    bit-width does not capture (e.g. k-means weight sharing): `build` returns the network to fine-tune
    (default: materialize(net, arch)); `extra_costs` is added to the cost of that name (e.g. the bytes
    of the codebooks to "size" and "memory"). `masks`: element-wise pruning on top of `arch` (layer ->
    bool mask of the full weight shape, True = keep; search/methods/sparsity.py), applied when the
    network is materialized."""

    net: Supernet
    arch: Architecture
    info: dict[str, Any] = field(default_factory=dict)
    build: Callable[[], nn.Module] | None = None
    extra_costs: dict[str, float] = field(default_factory=dict)
    masks: dict[str, Tensor] = field(default_factory=dict)


MethodFn = Callable[[nn.Module, RunContext], MethodResult]
METHODS: dict[str, MethodFn] = {}
KEEPS_ALL_CHANNELS: set[str] = set()  # methods without a 0-bit option: their smallest network keeps every channel
_BUILTIN = (
    "search.methods.differentiable",
    "search.methods.uniform",
    "search.methods.sequential",
    "search.methods.pit",
    "search.methods.importance",
    "search.methods.twonn",
    "search.methods.clustering",
    "search.methods.admm",
    "search.path",
)


def register_method(name: str, prunes: bool = True) -> Callable[[MethodFn], MethodFn]:
    """prunes=False: the method never removes a channel, so the pre-training budget check prices its
    floor with every channel kept (a budget under it is refused before the search, not after)."""

    def deco(fn: MethodFn) -> MethodFn:
        if name in METHODS:
            raise KeyError(f"method {name!r} already registered")
        METHODS[name] = fn
        if not prunes:
            KEEPS_ALL_CHANNELS.add(name)
        return fn

    return deco


WORD_OPTIONS: dict[str, dict[str, tuple[str, ...]]] = {}  # method -> option -> allowed words


def register_word_option(method: str, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Declare a method option that names a choice, so a run checks it before any training."""
    WORD_OPTIONS.setdefault(method, {})[key] = allowed
    return allowed


METHOD_CHECKS: dict[str, list[Callable[[SearchConfig, str], None]]] = {}


def register_method_check(method: str, check: Callable[[SearchConfig, str], None]) -> None:
    """A check `fn(cfg, cost_name)` a run of `method` passes before any training (raises ConfigError)."""
    METHOD_CHECKS.setdefault(method, []).append(check)


def check_word_options(cfg: SearchConfig, cost: str | None = None) -> None:
    """Refuse (one line) a word option of cfg.method outside its allowed choices, and what the
    method's registered checks refuse."""
    method_names()
    for key, allowed in WORD_OPTIONS.get(cfg.method, {}).items():
        cfg.word_option(key, allowed[0], allowed)
    if cost is not None:
        for check in METHOD_CHECKS.get(cfg.method, []):
            check(cfg, cost)


def method_names() -> list[str]:
    for mod in _BUILTIN:
        importlib.import_module(mod)
    return sorted(METHODS)


def keeps_all_channels(name: str) -> bool:
    method_names()
    return name in KEEPS_ALL_CHANNELS


def get_method(name: str) -> MethodFn:
    if name not in method_names():
        raise ValueError(f"unknown method {name!r}; known: {', '.join(method_names())}")
    return METHODS[name]
