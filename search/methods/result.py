"""What every search method returns, so that every method writes the same arch.json/metrics.json."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

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
