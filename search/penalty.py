"""The search's cost pressure as one object:  loss = task_loss + penalty(progress).

A regularizer in PLiNIO's sense, with bitgate's budget machinery inside, so that the training step
stays a plain step. It owns
- which costs push: the run's own cost at the fixed `strength` when no limit is on it, and each
  limit's cost (a budget, a RAM budget, the target's memories: search.constraints.limits) only
  while the deployed (argmax) architecture is above that limit's target;
- each limit's target, walked down from the stage's starting cost to the limit (budget_target);
- each limit's strength, moved after every step by its own argmax cost (StrengthController);
- the reference costs that make a strength comparable across targets (reference_cost).

An epoch calls start_epoch() first; each step calls penalty(progress) after the forward pass and
after_step() after the optimizers; the epoch's history row reads costs_row() and strengths_row().
state_dict() holds what a checkpoint must keep, under the keys older checkpoints used.

Within an epoch nothing is read back to the host: the argmax costs, the strengths, each limit's "is it
pushing" and the epoch's lowest and highest strengths stay device tensors (a GPU never waits for the
step to finish); the epoch's row and the checkpoint read them once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

import cost_models
from search.constraints.budget import StrengthController
from search.constraints.limits import Limit, run_limits
from search.context import RunContext
from search.pricing import layer_choices
from supernet import Architecture, Supernet

BUDGET_REACH = 0.6  # the argmax cost is walked down to the budget over this share of a stage


def reference_cost(net: Supernet, ctx: RunContext, cost: str | None = None) -> float:
    """Cost of the unpruned network at the largest bit-width: makes `strength` comparable across targets."""
    channels = {n: s.out_channels for n, s in net.specs.items()}
    arch = Architecture.uniform(channels, max(net.bits), max(net.act_bits))
    return float(cost_models.evaluate(cost or ctx.cost, layer_choices(net, arch), ctx.target))


def budget_target(budget: float | None, start: float, progress: float) -> float:
    """Where the deployed cost should be at `progress` (0..1) of a stage: geometric from the stage's
    starting cost down to the budget over BUDGET_REACH of it, then the budget. Walking down, many
    channels cannot reach a common boundary and cross it at once (seen: 4.7 kB -> 1.2 kB in one
    digits epoch at a 3 kB budget, 10% accuracy, no recovery)."""
    if budget is None:
        return float("inf")
    if start <= budget:
        return budget
    return start * (budget / start) ** min(progress / BUDGET_REACH, 1.0)


def _key(name: str, cost: str, main: str) -> str:
    """State and history keys: plain for the run's own cost ("strength"), suffixed for a second limit."""
    return name if cost == main else f"{name}@{cost}"


class CostPenalty:
    """strength * cost / cost_ref summed over the costs that push now; see the module docstring.

    stage_budgets: the budget of each stage (None: cfg's other limits only), in stage order."""

    def __init__(self, net: Supernet, ctx: RunContext, stage_budgets: Sequence[float | None], steps: int) -> None:
        cfg = ctx.cfg
        self.net, self.target, self.main, self.fixed = net, ctx.target, ctx.cost, cfg.strength
        self.stage_limits = [run_limits(cfg, ctx.target, ctx.cost, budget) for budget in stage_budgets]
        limited = {limit.cost for limits in self.stage_limits for limit in limits}
        self.refs = {c: reference_cost(net, ctx, c) for c in {self.main} | limited}
        # one controller per limited cost; its strength carries over from stage to stage
        start = max(cfg.strength, 1e-3)
        self.controllers = {c: StrengthController(1.0, start, cfg.budget_rate, steps) for c in limited}
        self.start_cost: dict[str, float] = {}  # each limit's argmax cost where its stage began
        self.limits: tuple[Limit, ...] = ()
        self.deployed: dict[str, Tensor] = {}  # the argmax costs after the last step, per limit (device)
        self.targets: dict[str, float] = {}
        self.seen: dict[str, list[float | Tensor]] = {}  # each limit's lowest and highest strength this epoch

    @property
    def order(self) -> list[str]:
        """The costs limited in this stage, in a fixed order: the loss sums its terms alike every run."""
        return [limit.cost for limit in self.limits]

    def strength(self, cost: str) -> float | Tensor:
        return self.controllers[cost].strength if cost in self.controllers else self.fixed

    def start_epoch(self, stage: int, local_epoch: int) -> None:
        """Take the stage's limits and the deployed costs; a stage's first epoch records where its descent starts."""
        self.limits = self.stage_limits[stage]
        self.deployed = self.argmax_costs(self.order)
        if local_epoch == 0:  # read once per stage: the targets are walked down on the host from it
            self.start_cost.update({c: float(self.deployed[c]) for c in self.order})
        self.seen = {c: [self.strength(c)] * 2 for c in self.order}
        self.targets = {}

    def __call__(self, progress: float) -> Tensor | float:
        """The penalty at `progress` (0..1) of the stage. A limit's cost pushes only while the deployed
        architecture is above its target: below it the task loss alone moves the gates, so the search
        cannot overshoot far under a limit and settles where the two meet."""
        for limit in self.limits:
            self.targets[limit.cost] = budget_target(limit.budget, self.start_cost[limit.cost], progress)
        fixed = [] if self.main in self.order else [self.main]  # no limit on the run's own cost: fixed strength
        total: Tensor | float = 0.0
        for c, cost in self.costs(fixed + self.order).items():
            if c in fixed:
                total = total + self.fixed * cost / self.refs[c]
                continue
            # pushing or not is decided on the device: the term times 1 (its cost is above its target) or 0
            pushing = (self.deployed[c] > self.targets[c]).to(cost.dtype)
            total = total + self.strength(c) * cost / self.refs[c] * pushing
        return total

    def after_step(self) -> None:
        """Each limit's strength follows its own argmax cost (bounded per epoch: StrengthController)."""
        self.deployed = self.argmax_costs(self.order)
        for c in self.order:
            controller = self.controllers[c]
            controller.budget = self.targets[c]
            s = controller.update(self.deployed[c])
            low, high = (torch.as_tensor(v, dtype=s.dtype, device=s.device) for v in self.seen[c])
            self.seen[c] = [torch.minimum(low, s), torch.maximum(high, s)]

    def costs(self, names: Sequence[str]) -> dict[str, Tensor]:
        """Several costs of the current gates from one layer_choices() (it carries the RAM plan)."""
        if not names:
            return {}
        choices = layer_choices(self.net)
        return {c: cost_models.evaluate(c, choices, self.target) for c in names}

    @torch.no_grad()
    def argmax_costs(self, names: Sequence[str]) -> dict[str, Tensor]:
        """The costs of what discretization would pick now (hard gates: one-hot probabilities), on the device:
        the same batched cost models at one-hot probabilities (closed form), no read back per step."""
        if not names:
            return {}
        mode = next(self.net.all_gates()).mode
        self.net.set_sampling("hard")
        try:
            return self.costs(names)
        finally:
            self.net.set_sampling(mode)

    def costs_row(self) -> dict[str, float]:
        """The run's own cost: expected (the gates' probabilities) and deployed (argmax; the last step's if limited)."""
        with torch.no_grad():
            expected = float(self.costs([self.main])[self.main])
        deployed = self.deployed[self.main] if self.main in self.deployed else self.argmax_costs([self.main])[self.main]
        return {"cost": expected, "arch_cost": float(deployed)}

    def strengths_row(self) -> dict[str, float | str]:
        """Strengths, budgets and targets of the epoch; a second limit's under its own columns (name@cost)."""
        s = float(self.strength(self.main))
        low, high = (float(v) for v in self.seen.get(self.main, [s, s]))
        budgets = {limit.cost: limit.budget for limit in self.limits}
        row: dict[str, float | str] = {"strength": s, "strength_min": low, "strength_max": high}
        row.update(budget=budgets.get(self.main, ""), target=self.targets.get(self.main, ""))
        for c in sorted(set(self.order) - {self.main}):
            row[f"arch_cost@{c}"] = float(self.deployed[c])
            row[f"strength@{c}"] = float(self.strength(c))
            row[f"budget@{c}"] = budgets[c]
            row[f"target@{c}"] = self.targets.get(c, "")
        return row

    def summary(self) -> dict[str, float]:
        """metrics.json's search_cost_ref and final strengths."""
        out = {"cost_ref": self.refs[self.main], "final_strength": float(self.strength(self.main))}
        out.update({f"final_strength@{c}": float(self.strength(c)) for c in sorted(set(self.refs) - {self.main})})
        return out

    def state_dict(self) -> dict[str, float]:
        state = {_key("strength", c, self.main): float(self.strength(c)) for c in self.refs}
        state.update({_key("start_cost", c, self.main): v for c, v in self.start_cost.items()})
        return state

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Takes its own keys of a checkpoint's extra state, ignores the rest (the hardening's)."""
        for c in self.refs:
            if _key("strength", c, self.main) in state and c in self.controllers:
                self.controllers[c].load({"strength": state[_key("strength", c, self.main)]})
            if _key("start_cost", c, self.main) in state:
                self.start_cost[c] = float(state[_key("start_cost", c, self.main)])
