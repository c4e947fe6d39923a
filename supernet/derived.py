"""Values derived from a module's buffers, recomputed only when those buffers change.

A search control (the gates' allowed options, a quantizer's signedness, a fine-tuned layer's bits) is set
between steps and read in every step. Deriving it per step costs operations, and reading it on the host
(`bool(...)`, `.tolist()`) waits for the device. Every in-place write bumps a tensor's version counter and
a device move replaces the tensor, so (tensor, version) says whether the derived value is still good,
without looking at the values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import Tensor, nn

T = TypeVar("T")


def derived(owner: nn.Module, key: str, sources: tuple[Tensor, ...], make: Callable[[], T]) -> T:
    """`make()`, kept on `owner` under `key` until one of `sources` is replaced or written in place."""
    stamp = tuple(t._version for t in sources)
    cached = owner.__dict__.get(key)  # a plain attribute: neither a parameter, a buffer nor state
    if cached is None or cached[1] != stamp or any(a is not b for a, b in zip(cached[0], sources, strict=True)):
        cached = (sources, stamp, make())
        owner.__dict__[key] = cached
    return cached[2]
