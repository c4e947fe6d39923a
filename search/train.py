"""The training loop, written out: warm-up, supernet search, fine-tune, evaluate.

Each function takes (model, data, config, ...) and returns metrics. The search loss is
visible where it is computed:  loss = task_loss + strength * cost / cost_ref
(with a budget, the strength is adapted by search.constraints.budget.StrengthController).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import cost_models
from search.config import SearchConfig
from search.constraints.budget import StrengthController
from search.constraints.limits import Limit, run_limits
from search.context import RunContext
from search.pricing import layer_choices
from supernet import Architecture, Supernet
from supernet.gates import TemperatureSchedule
from zoo.data import InMemoryDataset, batches

Penalty = Callable[[nn.Module], Tensor]
Stage = tuple[float | None, int]  # (budget or None for the fixed strength, epochs)


@torch.no_grad()
def evaluate(model: nn.Module, dataset: InMemoryDataset, batch_size: int = 512) -> float:
    """Top-1 accuracy in eval mode."""
    was = model.training
    model.eval()
    correct = 0
    for x, y in batches(dataset, batch_size):
        correct += int((model(x).argmax(1) == y).sum())
    model.train(was)
    return correct / max(len(dataset), 1)


def train_epoch(model: nn.Module, ctx: RunContext, optimizer: torch.optim.Optimizer, gen: torch.Generator,
                penalty: Penalty | None = None) -> dict[str, float]:  # fmt: skip
    """One epoch of plain supervised training (optionally + a penalty, e.g. ADMM's proximal term)."""
    model.train()
    total, n = 0.0, 0
    for x, y in batches(ctx.data.train, ctx.cfg.batch_size, shuffle=True, generator=gen, augment=ctx.data.augment):
        loss = F.cross_entropy(model(x), y)
        if penalty is not None:
            loss = loss + penalty(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, n = total + loss.item() * len(y), n + len(y)
    return {"loss": total / max(n, 1), "val_acc": evaluate(model, ctx.data.val)}


def weight_optimizer(params, ctx: RunContext) -> torch.optim.Optimizer:
    """Adam (default) or SGD with momentum for the network's weights (cfg.optimizer)."""
    cfg = ctx.cfg
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def arch_optimizer(params, ctx: RunContext) -> torch.optim.Optimizer:
    """The gates' own optimizer (seed 001 trains them apart from the weights, with their own rate)."""
    cfg = ctx.cfg
    if cfg.arch_optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.arch_lr, momentum=cfg.momentum)
    return torch.optim.Adam(params, lr=cfg.arch_lr)


def lr_schedule(opt: torch.optim.Optimizer, epochs: int, ctx: RunContext) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch learning rate of one phase: constant, or cosine from lr towards 0 over the phase."""
    if ctx.cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


class BestState:
    """The best validation accuracy of a phase and the weights that had it (checkpointed with the phase)."""

    def __init__(self) -> None:
        self.acc = -1.0
        self.weights: dict[str, Tensor] = {}
        self.since = 0  # epochs since the best one (early stopping's patience counter)

    def offer(self, acc: float, model: nn.Module) -> None:
        if acc > self.acc:
            self.acc, self.since = acc, 0
            self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.since += 1

    def state_dict(self) -> dict:
        return {"acc": self.acc, "weights": self.weights, "since": self.since}

    def load_state_dict(self, state: dict) -> None:
        self.acc, self.weights = float(state["acc"]), dict(state["weights"])
        self.since = int(state.get("since", 0))


def warmup(model: nn.Module, ctx: RunContext, phase: str = "warmup", epochs: int | None = None) -> dict[str, float]:
    """Float training: the supernet starts from a network that already works.

    With cfg.patience > 0 it stops early like the fine-tune (and keeps the best epoch with select_best)."""
    opt = weight_optimizer(model.parameters(), ctx)
    epochs = ctx.cfg.warmup_epochs if epochs is None else epochs
    sched = lr_schedule(opt, epochs, ctx)
    patience, best = ctx.cfg.patience, BestState()

    def epoch(e: int, g: torch.Generator) -> dict[str, float]:
        metrics = train_epoch(model, ctx, opt, g)
        sched.step()
        if patience > 0:
            best.offer(metrics["val_acc"], model)
        return metrics

    objects = {"model": model, "opt": opt, "sched": sched}
    if patience > 0:  # only then: older warm-up checkpoints (without it) still resume
        objects["best"] = best
    with ctx.float_autocast():  # amp=bf16 only here: no quantizer rounds in the float network
        ctx.phase(phase, epochs, objects, epoch, stop=lambda: 0 < patience <= best.since)
    if patience > 0 and ctx.cfg.select_best and best.weights:
        model.load_state_dict(best.weights)
        # the checkpoint is what a sweep's points start from: it must hold the kept epoch, not the last
        ctx.checkpoints.replace_state(phase, "model", model.state_dict())
    return {"float_val_acc": evaluate(model, ctx.data.val), "float_test_acc": evaluate(model, ctx.data.test)}


def finetune(model: nn.Module, ctx: RunContext, phase: str = "finetune", penalty: Penalty | None = None) -> dict:
    """Train the discrete, physically pruned, fake-quantized network (quantization-aware training).

    With cfg.select_best the weights of the epoch with the best validation accuracy are kept;
    with cfg.patience > 0 the phase also stops after that many epochs without a better one
    (early stopping). The test set is only ever read at the end."""
    opt = weight_optimizer(model.parameters(), ctx)
    sched = lr_schedule(opt, ctx.cfg.finetune_epochs, ctx)
    best = BestState()

    def epoch(e: int, g: torch.Generator) -> dict[str, float]:
        metrics = train_epoch(model, ctx, opt, g, penalty)
        sched.step()
        best.offer(metrics["val_acc"], model)
        return metrics

    objects = {"model": model, "opt": opt, "sched": sched, "best": best}
    patience = ctx.cfg.patience
    ctx.phase(phase, ctx.cfg.finetune_epochs, objects, epoch, stop=lambda: 0 < patience <= best.since)
    if ctx.cfg.select_best and best.weights:
        model.load_state_dict(best.weights)
    return {"val_acc": evaluate(model, ctx.data.val), "test_acc": evaluate(model, ctx.data.test)}


def reference_cost(net: Supernet, ctx: RunContext, cost: str | None = None) -> float:
    """Cost of the unpruned network at the largest bit-width: makes `strength` comparable across targets."""
    channels = {n: s.out_channels for n, s in net.specs.items()}
    arch = Architecture.uniform(channels, max(net.bits), max(net.act_bits))
    return float(cost_models.evaluate(cost or ctx.cost, layer_choices(net, arch), ctx.target))


def reserve_min_channels(net: Supernet, cfg: SearchConfig) -> None:
    """No layer death: every prunable group keeps at least cfg.min_kept(C) channels, the ones its
    gates want most right now (recomputed between epochs, so the choice follows the search)."""
    for gates in net.weight_gates():
        gates.reserve_most_kept(cfg.min_kept(gates.channels) if gates.channels > 1 else 1)


BUDGET_REACH = 0.6  # the argmax cost is walked down to the budget over this share of a stage


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


def temperature_schedule(cfg: SearchConfig, epochs: int) -> TemperatureSchedule:
    return TemperatureSchedule(cfg.tau_schedule, cfg.tau0, cfg.tau_decay, tau_final=cfg.tau_final,
                               epochs=max(epochs, 1))  # fmt: skip


def hardened(sampling: str) -> str:
    """The one-hot (straight-through) form of a sampling mode."""
    return "hard-gumbel" if "gumbel" in sampling else "hard"


def _key(name: str, cost: str, main: str) -> str:
    """State and history keys: plain for the run's own cost ("strength"), suffixed for a second limit."""
    return name if cost == main else f"{name}@{cost}"


def search(net: Supernet, ctx: RunContext, phase: str = "search", stages: Sequence[Stage] | None = None,
           on_stage_end: Callable[[int], None] | None = None) -> dict[str, float]:  # fmt: skip
    """Differentiable search: weights and gates trained together on task loss + strength * cost.

    With limits (a budget, a RAM budget, the target's memories: search.constraints.limits) each limit has its
    own strength, moved every step by the argmax architecture's cost on that limit (bounded per
    epoch; see search/constraints/budget.py), so the deployed network settles just under all of them.
    `stages`: (budget, epochs) pairs run one after the other on the same supernet, optimizers and
    strengths (the regularization path of search/path.py); the stage's budget replaces cfg.budget,
    the other limits hold in every stage. `on_stage_end(k)` is called after each stage, also when a
    resumed run finds it already done. Default: one stage (cfg.budget, search_epochs).
    """
    cfg, main = ctx.cfg, ctx.cost
    stages = list(stages) if stages else [(cfg.budget, cfg.search_epochs)]
    total = sum(epochs for _, epochs in stages)
    w_opt = weight_optimizer(net.weight_parameters(), ctx)
    w_sched = lr_schedule(w_opt, total, ctx)
    a_opt = arch_optimizer(net.arch_parameters(), ctx)
    schedule = temperature_schedule(cfg, total)
    net.set_sampling(cfg.sampling)
    steps = max(1, math.ceil(len(ctx.data.train) / cfg.batch_size))
    stage_limits = [run_limits(cfg, ctx.target, main, budget) for budget, _ in stages]
    limited_somewhere = {limit.cost for limits in stage_limits for limit in limits}
    costs = {main} | limited_somewhere
    refs = {c: reference_cost(net, ctx, c) for c in costs}
    controller = StrengthController(1.0, max(cfg.strength, 1e-3), cfg.budget_rate, steps)
    state = {_key("strength", c, main): controller.strength if c in limited_somewhere else cfg.strength
             for c in costs}  # fmt: skip

    def costs_of(names: Iterable[str]) -> dict[str, Tensor]:
        """Several costs of the current gates from one layer_choices() (it carries the RAM plan)."""
        names = list(names)
        if not names:
            return {}
        choices = layer_choices(net)
        return {c: cost_models.evaluate(c, choices, ctx.target) for c in names}

    @torch.no_grad()
    def argmax_costs(names: Iterable[str]) -> dict[str, float]:
        """The costs of what discretization would pick now (hard gates: one-hot probabilities)."""
        names = list(names)
        if not names:
            return {}
        mode = next(net.all_gates()).mode
        net.set_sampling("hard")
        try:
            return {c: float(v) for c, v in costs_of(names).items()}
        finally:
            net.set_sampling(mode)

    # Hardening: from `hard_from`, or after the first epoch whose argmax network's validation accuracy
    # fell below harden_collapse x its best in this search (the soft supernet no longer stands for
    # the network that will be deployed), the weights train on the network discretization will
    # keep (one-hot gates, straight-through gradients for the gates).
    hard_from = total - round(cfg.harden * total)

    def epoch(e: int, local: int, epochs: int, gen: torch.Generator, limits: tuple[Limit, ...]) -> dict:
        reserve_min_channels(net, cfg)
        # hardening: the weights learn the network discretization will keep, the gates still get
        # (straight-through) gradients, so the fine-tune starts from weights that fit the argmax
        hard = e >= hard_from or bool(state.get("hardened", 0))
        net.set_sampling(hardened(cfg.sampling) if hard else cfg.sampling)
        net.train()
        order = [limit.cost for limit in limits]  # a fixed order: the loss sums its terms alike every run
        limited = set(order)
        deployed = argmax_costs(order)
        if local == 0:  # where this stage's descent starts, per limit (kept in the checkpoint)
            state.update({_key("start_cost", c, main): deployed[c] for c in limited})
        seen = {c: [state[_key("strength", c, main)]] * 2 for c in limited}
        targets: dict[str, float] = {}
        task_sum, n = 0.0, 0
        for i, (x, y) in enumerate(batches(ctx.data.train, cfg.batch_size, shuffle=True, generator=gen,
                                           augment=ctx.data.augment)):  # fmt: skip
            # annealed by the library: every step for "anneal" (ends at tau_final), per epoch otherwise
            net.set_temperature(schedule(e + (i + 1) / steps if schedule.kind == "anneal" else e))
            if cfg.sampling in ("gumbel", "hard-gumbel"):
                net.resample(gen)
            task_loss = F.cross_entropy(net(x), y)
            # A limit's cost pushes only while the deployed (argmax) architecture is above its target,
            # which walks down to the limit (budget_target): below it the task loss alone moves the
            # gates, so the search cannot overshoot far under a limit and settles where the two meet.
            progress = (local + (i + 1) / steps) / epochs
            for limit in limits:
                c = limit.cost
                targets[c] = budget_target(limit.budget, state[_key("start_cost", c, main)], progress)
            pushing = [c for c in order if deployed[c] > targets[c]]
            fixed = [] if main in limited else [main]  # no budget on the run's own cost: fixed strength
            loss = task_loss
            for c, cost in costs_of(fixed + pushing).items():
                strength = cfg.strength if c in fixed else state[_key("strength", c, main)]
                loss = loss + strength * cost / refs[c]
            w_opt.zero_grad(set_to_none=True)
            a_opt.zero_grad(set_to_none=True)
            loss.backward()
            w_opt.step()
            a_opt.step()
            deployed = argmax_costs(order)
            for c in order:  # each limit's strength follows its own argmax cost
                controller.load({"strength": state[_key("strength", c, main)]})
                controller.budget = targets[c]
                state[_key("strength", c, main)] = s = controller.update(deployed[c])
                seen[c] = [min(seen[c][0], s), max(seen[c][1], s)]
            task_sum, n = task_sum + task_loss.item() * len(y), n + len(y)
        w_sched.step()
        with torch.no_grad():
            expected = float(costs_of([main])[main])
        deployed_acc = hard_accuracy(net, ctx)
        state["best_deployed_acc"] = best = max(state.get("best_deployed_acc", 0.0), deployed_acc)
        if not hard and deployed_acc < cfg.harden_collapse * best:  # collapsed: harden from the next epoch
            state["hardened"] = 1
        arch_cost = deployed[main] if main in deployed else argmax_costs([main])[main]  # the last step's, if limited
        row = {"task_loss": task_sum / max(n, 1), "val_acc": deployed_acc, "cost": expected,
               "arch_cost": arch_cost, "tau": float(next(net.all_gates()).tau),
               "strength": state["strength"], "strength_min": seen.get(main, [state["strength"]] * 2)[0],
               "strength_max": seen.get(main, [state["strength"]] * 2)[1]}  # fmt: skip
        budgets = {limit.cost: limit.budget for limit in limits}
        row.update({"budget": budgets.get(main, ""), "target": targets.get(main, "")})
        for c in sorted(limited - {main}):  # a second limit's own columns, e.g. arch_cost@peak_activation_ram
            row.update({f"arch_cost@{c}": deployed[c], f"strength@{c}": state[f"strength@{c}"],
                        f"budget@{c}": budgets[c], f"target@{c}": targets.get(c, "")})  # fmt: skip
        row["hard_gates"] = int(hard)
        return row

    objects = {"net": net, "w_opt": w_opt, "a_opt": a_opt, "w_sched": w_sched}
    offset = 0
    for k, (_, epochs) in enumerate(stages):
        name = phase if len(stages) == 1 else f"{phase}-{k}"
        limits = stage_limits[k]
        ctx.phase(name, epochs, objects, lambda e, g, o=offset, n=epochs, lim=limits: epoch(o + e, e, n, g, lim),
                  extra=lambda: dict(state), restore_extra=state.update)  # fmt: skip
        offset += epochs
        reserve_min_channels(net, cfg)  # from the stage's final gates: a resumed run discretizes alike
        if on_stage_end is not None:
            on_stage_end(k)
    net.set_sampling("soft")
    final = {"search_val_acc": hard_accuracy(net, ctx), "cost_ref": refs[main], "final_strength": state["strength"]}
    final.update({f"final_strength@{c}": state[f"strength@{c}"] for c in sorted(costs - {main})})
    return final


def hard_accuracy(net: Supernet, ctx: RunContext) -> float:
    """Validation accuracy of the argmax architecture (what discretization would pick), before fine-tuning."""
    mode = next(net.all_gates()).mode
    net.set_sampling("hard")
    try:
        return evaluate(net, ctx.data.val)
    finally:
        net.set_sampling(mode)
