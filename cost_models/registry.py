"""Name -> cost model registry.

A cost model is a plain function `(choices, target) -> scalar tensor`, differentiable
w.r.t. the probabilities in the LayerChoices and exact at one-hot probabilities.
`applies_to` says on which targets a model is meaningful (a latency model only on its
own device family), so `evaluate_all` can price an architecture on any target. A cost that is a
sum over layers may also give `terms`: one entry per layer (the cost of that layer from its own record
alone), so a change to a few layers is priced on those layers alone (the budget repair does,
search/constraints/pricer.py). The entries sum to the cost up to a part no choice changes (latency_cortexm:
bg_infer and the glue ops on channels nobody prunes); a layer's term may include deploy-plan ops that
carry its channels, read from the list's `deploy_plan` (`DeployPlan.carried_by` for a few layers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from supernet.spec import LayerChoice
from targets.target import Target

CostFn = Callable[[Sequence[LayerChoice], Target], torch.Tensor]


class UnknownCostModel(KeyError, ValueError):
    """Raised for an unknown name; a KeyError and a ValueError, printed as one plain line."""

    def __str__(self) -> str:
        return str(self.args[0])


def _everywhere(target: Target) -> bool:
    return True


@dataclass(frozen=True)
class CostModel:
    name: str
    fn: CostFn
    unit: str
    applies_to: Callable[[Target], bool] = _everywhere
    terms: CostFn | None = None  # per-layer entries (shape (L,)) summing to fn less a constant; None: not a sum

    def __call__(self, choices: Sequence[LayerChoice], target: Target) -> torch.Tensor:
        return self.fn(choices, target)


COST_MODELS: dict[str, CostModel] = {}


def register(
    name: str, unit: str, applies_to: Callable[[Target], bool] | None = None, terms: CostFn | None = None
) -> Callable[[CostFn], CostFn]:
    """Decorator: register `fn` under `name`; `unit` is shown next to values ("bytes", "cycles"). `terms`:
    the cost per layer, when `fn` is their sum plus a constant (each entry depends on that layer's
    LayerChoice, and on the plan's ops carrying its channels, only)."""

    def deco(fn: CostFn) -> CostFn:
        if name in COST_MODELS:
            raise KeyError(f"cost model {name!r} already registered")
        COST_MODELS[name] = CostModel(name, fn, unit, applies_to or _everywhere, terms)
        return fn

    return deco


def for_family(*families: str) -> Callable[[Target], bool]:
    """`applies_to` predicate for models that describe one device family's kernels."""
    return lambda target: target.family in families


def names() -> list[str]:
    return sorted(COST_MODELS)


def get(name: str) -> CostModel:
    """The registered model (callable like its function; also carries unit and applies_to)."""
    try:
        return COST_MODELS[name]
    except KeyError:
        raise UnknownCostModel(f"unknown cost model {name!r}; known: {', '.join(names())}") from None


def applicable(target: Target) -> list[str]:
    """Names of the cost models that make sense on `target`."""
    return [n for n in names() if COST_MODELS[n].applies_to(target)]


def evaluate(name: str, choices: Sequence[LayerChoice], target: Target) -> torch.Tensor:
    """Scalar cost `name` of `choices` on `target`; refuses a model built for another device family."""
    return _applying(name, target)(choices, target)


def _applying(name: str, target: Target) -> CostModel:
    """The model `name`; refuses one built for another device family (one line)."""
    model = get(name)
    if not model.applies_to(target):
        raise ValueError(
            f"cost model {name!r} does not apply to target {target.name!r} (family {target.family!r}); "
            f"applicable: {', '.join(applicable(target))}"
        )
    return model


def layer_terms(name: str, choices: Sequence[LayerChoice], target: Target) -> torch.Tensor | None:
    """Cost `name` of each of `choices` alone, shape (len(choices),), or None if the model is not a sum over
    layers (its value then depends on the network as a whole: a peak of the planned RAM)."""
    model = _applying(name, target)
    return model.terms(choices, target) if model.terms is not None else None


def evaluate_all(choices: Sequence[LayerChoice], target: Target) -> dict[str, float]:
    """Every applicable cost of `choices` on `target`, as plain floats (for metrics.json)."""
    with torch.no_grad():
        return {n: float(COST_MODELS[n](choices, target)) for n in applicable(target)}
