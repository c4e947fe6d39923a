"""What a search method is, in one record: `MethodSpec`, filled by one `@register_method(...)` call.

Everything outside a method's own module asks its spec (validation, run and sweep orchestration,
plots), never `cfg.method == "..."`:

    @register_method("admm", options=AdmmOptions, reads_strength=False, knob="budget_frac",
                     checks=(check_unstructured_cost,), style=8)
    def admm(model, ctx) -> MethodResult: ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from search.config import SearchConfig
from search.methods.options import MethodOptions
from search.methods.result import MethodFn

Check = Callable[[SearchConfig, str], None]  # fn(cfg, cost name): raises ConfigError before any training

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


@dataclass(frozen=True)
class MethodSpec:
    """A registered method and what the rest of bitgate needs to know about it."""

    name: str
    fn: MethodFn
    options: type[MethodOptions] = MethodOptions  # its method_options, typed (MethodOptions: none)
    prunes: bool = True  # False: never removes a channel, so a budget floor is priced with every channel kept
    reads_strength: bool = True  # False: `strength` does not move it (a sweep warns, plots omit "s0.3")
    knob: str | None = None  # the option that moves it along a front instead of the strength (sweep --vary)
    checks: tuple[Check, ...] = ()  # what a run of it must pass before any training, beyond its options
    styles: Mapping[str, int] = field(default_factory=dict)  # result label -> fixed (colour, marker) slot
    points_from: str | None = None  # a setting whose values are its sweep points; it then takes no budget
    point_name: Callable[[SearchConfig], str] | None = None  # what names one point ("w4" for uniform_bits=4)
    needs_path_search: bool = False  # its points come from a sweep's one path search (search/path.py)
    stores: Callable[[SearchConfig], tuple[int, ...]] | None = None  # the weight widths it stores, if not cfg.bits
    storable_widths: bool = False  # True: picks any width the target can store (storage_bits), not only `bits`

    @property
    def takes_budget(self) -> bool:
        """Does a budget (and every other limit) apply to it? Not to a method swept by a setting (uniform)."""
        return self.points_from is None

    def label(self, cfg: SearchConfig) -> str:
        """How its runs are named: 'joint', 'uniform-w4'."""
        return self.name if self.point_name is None else f"{self.name}-{self.point_name(cfg)}"

    def word_options(self) -> dict[str, tuple[str, ...]]:
        return self.options.words()

    def check(self, cfg: SearchConfig, cost: str | None = None) -> MethodOptions:
        """Refuse (one line) an unknown or bad option of cfg.method, then what its checks refuse."""
        options = self.options.from_config(cfg)
        if cost is not None:
            for check in self.checks:
                check(cfg, cost)
        return options


METHODS: dict[str, MethodSpec] = {}


def register_method(
    name: str,
    prunes: bool = True,
    *,
    options: type[MethodOptions] = MethodOptions,
    reads_strength: bool = True,
    knob: str | None = None,
    checks: tuple[Check, ...] = (),
    style: int | Mapping[str, int] | None = None,
    points_from: str | None = None,
    point_name: Callable[[SearchConfig], str] | None = None,
    needs_path_search: bool = False,
    stores: Callable[[SearchConfig], tuple[int, ...]] | None = None,
    storable_widths: bool = False,
) -> Callable[[MethodFn], MethodFn]:
    """Register `fn` under `name` with its spec (fields: MethodSpec). style: the palette slot of its
    results (an int), or one slot per result label (uniform: {"uniform-w8": 9, ...}); None: a stable
    slot from the name. A slot or a name already taken is refused."""

    def deco(fn: MethodFn) -> MethodFn:
        if name in METHODS:
            raise KeyError(f"method {name!r} already registered")
        styles = {name: style} if isinstance(style, int) else dict(style or {})
        taken = {slot: label for spec in METHODS.values() for label, slot in spec.styles.items()}
        clash = [f"{label} ({taken[slot]})" for label, slot in styles.items() if slot in taken]
        if clash:
            raise KeyError(f"method {name!r}: plot style slot of {clash[0]} is already taken")
        METHODS[name] = MethodSpec(
            name,
            fn,
            options,
            prunes,
            reads_strength,
            knob,
            tuple(checks),
            MappingProxyType(styles),
            points_from,
            point_name,
            needs_path_search,
            stores,
            storable_widths,
        )
        return fn

    return deco


def method_names() -> list[str]:
    for mod in _BUILTIN:
        importlib.import_module(mod)
    return sorted(METHODS)


def method_spec(name: str) -> MethodSpec:
    if name not in method_names():
        raise ValueError(f"unknown method {name!r}; known: {', '.join(method_names())}")
    return METHODS[name]


def get_method(name: str) -> MethodFn:
    return method_spec(name).fn


def spec_of_label(label: str) -> MethodSpec | None:
    """The method whose results carry `label` (metrics.json "method": 'uniform-w4', 'importance-quant'):
    its own name, a label it styles, else the longest registered name the label starts with; None if none."""
    names = method_names()
    for spec in METHODS.values():
        if label == spec.name or label in spec.styles:
            return spec
    prefixes = [n for n in names if label.startswith(f"{n}-")]
    return METHODS[max(prefixes, key=len)] if prefixes else None


def plot_slots() -> dict[str, int]:
    """Every result label with a fixed plot style, and its slot."""
    method_names()
    return {label: slot for spec in METHODS.values() for label, slot in spec.styles.items()}
