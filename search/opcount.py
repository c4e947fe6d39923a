"""Counting what a training step asks of the device: dispatched operations and host syncs.

On a GPU the host queues kernels ahead of the device; every read of a device value on the host
(`bool()`, `float()`, `.item()`, `.tolist()`: the op aten._local_scalar_dense) waits for the queue to
drain, and every tensor built from Python data (aten.lift_fresh) is a blocking host-to-device copy.
A step that issues few operations and none of those runs at the device's speed. A TorchDispatchMode
sees every op below autograd (forward, backward, optimizer, data), so these counts are the same on
any device and under any load: the CPU can check what a GPU run would pay.

    with StepCounter() as counter:
        train_some_steps()
    counter.per_step()   # [{"ops": 512, "syncs": 0, "host_tensors": 0}, ...] between optimizer steps
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

SYNC_OPS = ("aten::_local_scalar_dense",)  # the op behind bool()/float()/int()/.item()/.tolist()
HOST_TENSOR_OPS = ("aten::lift_fresh",)  # torch.tensor(python data): a host-to-device copy on a GPU


class OpCounter(TorchDispatchMode):
    """Counts every dispatched aten op by name while active."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func._schema.name] += 1
        return func(*args, **(kwargs or {}))


def summary(counts: Counter[str]) -> dict[str, int]:
    """{"ops": all ops, "syncs": host reads, "host_tensors": tensors made from Python data}."""
    return {
        "ops": sum(counts.values()),
        "syncs": sum(counts[n] for n in SYNC_OPS),
        "host_tensors": sum(counts[n] for n in HOST_TENSOR_OPS),
    }


class StepCounter:
    """An OpCounter cut into windows at every step of the first optimizer that steps.

    A window holds everything between two consecutive steps of that optimizer: the next batch, its
    augmentation, forward, cost, backward, every optimizer's step and what the loop does after it,
    i.e. one iteration of the real loop. `per_step()` lists the windows' summaries, with the part that
    ran inside optimizer steps apart (`optimizer_ops`, `optimizer_syncs`: on the CPU, PyTorch's Adam and
    SGD read each parameter's step counter on the host; fused GPU optimizers do not).
    """

    def __init__(self) -> None:
        self.counter = OpCounter()
        self.marks: list[tuple[Counter[str], Counter[str]]] = []  # (all ops, ops inside optimizer steps)
        self.inside: Counter[str] = Counter()
        self._before: Counter[str] | None = None
        self._lead: int | None = None  # id of the optimizer whose steps cut the windows
        self._handles: list[Any] = []

    def _pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._before = Counter(self.counter.counts)

    def _after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._before is not None:
            self.inside += Counter(self.counter.counts) - self._before
            self._before = None
        if self._lead is None:
            self._lead = id(optimizer)
        if id(optimizer) == self._lead:
            self.marks.append((Counter(self.counter.counts), Counter(self.inside)))

    def __enter__(self) -> StepCounter:
        self._handles = [
            register_optimizer_step_pre_hook(self._pre_step),
            register_optimizer_step_post_hook(self._after_step),
        ]
        self.counter.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.counter.__exit__(*exc)
        for handle in self._handles:
            handle.remove()

    def windows(self) -> list[Counter[str]]:
        """Op counts of each window between consecutive lead-optimizer steps."""
        return [b[0] - a[0] for a, b in zip(self.marks, self.marks[1:], strict=False)]

    def per_step(self) -> list[dict[str, int]]:
        out = []
        for a, b in zip(self.marks, self.marks[1:], strict=False):
            row, inside = summary(b[0] - a[0]), summary(b[1] - a[1])
            out.append({**row, "optimizer_ops": inside["ops"], "optimizer_syncs": inside["syncs"]})
        return out
