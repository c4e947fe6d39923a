"""Budget mode: the strength that makes the *deployed* (argmax) architecture fit the budget.

A multiplier moved multiplicatively every step by the soft cost overshoots: on CIFAR-10 at a
15 kB budget it went 0.1 -> 9.2 in one epoch (796 at 6 kB) and pruned every layer to one channel,
while the soft cost it watched was 17x off the argmax cost. So here
- the signal is the argmax cost (the hard gates' cost: exactly what discretization deploys),
  aimed a little under the budget, where the final grow repair fills the rest;
- log(strength) moves at most `rate` per epoch (rate / steps_per_epoch per step), both ways, so
  one epoch cannot multiply the strength by more than e^rate;
- it keeps adapting to the last step: the architecture settles just under the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

STRENGTH_RANGE = (1e-4, 1e4)


@dataclass
class StrengthController:
    budget: float
    strength: float | Tensor  # a device tensor once updated with device costs
    rate: float = 1.0  # most that log(strength) moves in one epoch
    steps_per_epoch: int = 1
    aim: float = 0.97  # settle at this fraction of the budget

    def __post_init__(self) -> None:
        if not self.budget > 0 or not float(self.strength) > 0 or not self.rate > 0 or self.steps_per_epoch < 1:
            raise ValueError("strength controller needs budget > 0, strength > 0, rate > 0, steps_per_epoch >= 1")

    def update(self, argmax_cost: float | Tensor) -> float | Tensor:
        """One step: grow the strength while the argmax cost is above the aim, shrink it while below.

        With the cost as a device tensor the strength becomes one too and the same arithmetic runs on the
        device: the search step never waits to read a cost back."""
        lo, hi = STRENGTH_RANGE
        if isinstance(argmax_cost, Tensor):
            error = (argmax_cost / (self.budget * self.aim) - 1.0).clamp(-1.0, 1.0)
            strength = torch.as_tensor(self.strength, dtype=argmax_cost.dtype, device=argmax_cost.device)
            self.strength = (strength * torch.exp(self.rate / self.steps_per_epoch * error)).clamp(lo, hi)
            return self.strength
        error = max(-1.0, min(1.0, argmax_cost / (self.budget * self.aim) - 1.0))
        step = self.rate / self.steps_per_epoch * error
        self.strength = min(max(float(self.strength) * math.exp(step), lo), hi)
        return self.strength

    def state(self) -> dict[str, float]:
        return {"strength": float(self.strength)}

    def load(self, state: dict[str, float]) -> None:
        if "strength" in state:
            self.strength = float(state["strength"])
