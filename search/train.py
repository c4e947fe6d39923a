"""The training loop, written out: warm-up, supernet search, fine-tune, evaluate.

Each function takes (model, data, config, ...) and returns metrics. The search loss is
visible where it is computed:  loss = task_loss + strength * cost / cost_ref
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import cost_models
from search.context import RunContext
from search.data import InMemoryDataset, batches
from supernet import Architecture, Supernet, discretize
from supernet.gates import TemperatureSchedule

Penalty = Callable[[nn.Module], Tensor]


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
    return torch.optim.Adam(params, lr=ctx.cfg.lr, weight_decay=ctx.cfg.weight_decay)


def warmup(model: nn.Module, ctx: RunContext, phase: str = "warmup", epochs: int | None = None) -> dict[str, float]:
    """Float training: the supernet starts from a network that already works."""
    opt = weight_optimizer(model.parameters(), ctx)
    epochs = ctx.cfg.warmup_epochs if epochs is None else epochs
    with ctx.float_autocast():  # amp=bf16 only here: no quantizer rounds in the float network
        ctx.phase(phase, epochs, {"model": model, "opt": opt}, lambda e, g: train_epoch(model, ctx, opt, g))
    return {"float_val_acc": evaluate(model, ctx.data.val), "float_test_acc": evaluate(model, ctx.data.test)}


def finetune(model: nn.Module, ctx: RunContext, phase: str = "finetune", penalty: Penalty | None = None) -> dict:
    """Train the discrete, physically pruned, fake-quantized network (quantization-aware training)."""
    opt = weight_optimizer(model.parameters(), ctx)
    ctx.phase(phase, ctx.cfg.finetune_epochs, {"model": model, "opt": opt},
              lambda e, g: train_epoch(model, ctx, opt, g, penalty))  # fmt: skip
    return {"val_acc": evaluate(model, ctx.data.val), "test_acc": evaluate(model, ctx.data.test)}


def reference_cost(net: Supernet, ctx: RunContext) -> float:
    """Cost of the unpruned network at the largest bit-width: makes `strength` comparable across targets."""
    channels = {n: s.out_channels for n, s in net.specs.items()}
    arch = Architecture.uniform(channels, max(net.bits), max(net.act_bits))
    return float(cost_models.evaluate(ctx.cost, net.layer_choices(arch), ctx.target))


def search(net: Supernet, ctx: RunContext, phase: str = "search") -> dict[str, float]:
    """Differentiable search: weights and gates trained together on task loss + strength * cost.

    With a budget, the strength adapts every step (multiplicatively, like a Lagrange multiplier):
    it grows while the expected cost is above the budget and shrinks while it is below.
    """
    cfg = ctx.cfg
    w_opt = weight_optimizer(net.weight_parameters(), ctx)
    a_params = net.arch_parameters()
    a_opt = (torch.optim.Adam(a_params, lr=cfg.arch_lr) if cfg.arch_optimizer == "adam"
             else torch.optim.SGD(a_params, lr=cfg.arch_lr, momentum=0.9))  # fmt: skip
    schedule = TemperatureSchedule(cfg.tau_schedule, cfg.tau0, cfg.tau_decay)
    net.set_sampling(cfg.sampling)
    cost_ref = reference_cost(net, ctx)
    state = {"strength": cfg.strength if cfg.budget is None else max(cfg.strength, 1e-3)}

    def cost_of() -> Tensor:
        return cost_models.evaluate(ctx.cost, net.layer_choices(), ctx.target)

    def epoch(e: int, gen: torch.Generator) -> dict[str, float]:
        net.set_temperature(schedule(e))  # annealed by the library, per epoch
        net.train()
        task_sum, n = 0.0, 0
        for x, y in batches(ctx.data.train, cfg.batch_size, shuffle=True, generator=gen, augment=ctx.data.augment):
            if cfg.sampling in ("gumbel", "hard-gumbel"):
                net.resample(gen)
            task_loss = F.cross_entropy(net(x), y)
            cost = cost_of()
            loss = task_loss + state["strength"] * cost / cost_ref
            w_opt.zero_grad(set_to_none=True)
            a_opt.zero_grad(set_to_none=True)
            loss.backward()
            w_opt.step()
            a_opt.step()
            if cfg.budget is not None:  # dual ascent on the budget constraint, in log space
                ratio = cost.item() / cfg.budget - 1.0
                state["strength"] = min(max(state["strength"] * math.exp(0.2 * max(-1.0, min(1.0, ratio))), 1e-4), 1e4)
            task_sum, n = task_sum + task_loss.item() * len(y), n + len(y)
        with torch.no_grad():
            expected = float(cost_of())
            discrete = float(cost_models.evaluate(ctx.cost, net.layer_choices(discretize(net)), ctx.target))
        return {"task_loss": task_sum / max(n, 1), "val_acc": hard_accuracy(net, ctx), "cost": expected,
                "arch_cost": discrete, "tau": schedule(e), "strength": state["strength"]}  # fmt: skip

    ctx.phase(phase, cfg.search_epochs, {"net": net, "w_opt": w_opt, "a_opt": a_opt}, epoch,
              extra=lambda: dict(state), restore_extra=state.update)  # fmt: skip
    net.set_sampling("soft")
    return {"search_val_acc": hard_accuracy(net, ctx), "cost_ref": cost_ref}


def hard_accuracy(net: Supernet, ctx: RunContext) -> float:
    """Validation accuracy of the argmax architecture (what discretization would pick), before fine-tuning."""
    mode = next(net.all_gates()).mode
    net.set_sampling("hard")
    try:
        return evaluate(net, ctx.data.val)
    finally:
        net.set_sampling(mode)
