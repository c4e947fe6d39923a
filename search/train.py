"""The training loop, written out: warm-up, supernet search, fine-tune, evaluate.

Each function takes (model, data, config, ...) and returns metrics. The search loss is
visible where it is computed:  loss = task_loss + penalty(progress), the penalty being
strength * cost / cost_ref with a fixed strength, or one adapted per limit (search/penalty.py).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from search.config import SearchConfig
from search.context import RunContext
from search.hardening import Hardening, hardened
from search.penalty import CostPenalty
from search.sync_bn import synced_batchnorms
from supernet import Supernet
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
        correct = correct + (model(x).argmax(1) == y).sum()  # counted on the device, read once
    model.train(was)
    return int(correct) / max(len(dataset), 1)


def train_epoch(
    model: nn.Module,
    ctx: RunContext,
    optimizer: torch.optim.Optimizer,
    gen: torch.Generator,
    penalty: Penalty | None = None,
) -> dict[str, float]:
    """One epoch of plain supervised training (optionally + a penalty, e.g. ADMM's proximal term)."""
    model.train()
    total, n = 0.0, 0  # summed on the device in float64 (what Python's float sum did), read once per epoch
    for x, y in batches(ctx.data.train, ctx.cfg.batch_size, shuffle=True, generator=gen, augment=ctx.data.augment):
        loss = F.cross_entropy(model(x), y)
        if penalty is not None:
            loss = loss + penalty(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, n = total + _summed(loss) * len(y), n + len(y)
    return {"loss": float(total) / max(n, 1), "val_acc": evaluate(model, ctx.data.val)}


def step_kind(device: torch.device, kind: type[torch.optim.Optimizer] = torch.optim.Adam) -> dict[str, bool]:
    """How an optimizer steps on `device`: one fused kernel on a GPU (no host read of its step counters,
    one launch for all parameters; where this PyTorch's optimizer has one); PyTorch's default elsewhere
    (on the CPU its per-parameter loop, which keeps CPU results bit for bit as they were; it reads each
    step counter once per step)."""
    fused = device.type == "cuda" and "fused" in inspect.signature(kind).parameters
    return {"fused": True} if fused else {}


def _summed(loss: Tensor) -> Tensor:
    """A loss to add up on its device for the epoch's mean: float64, as Python's float sum did (MPS has no
    float64: float32 there)."""
    return loss.detach().to(torch.float32 if loss.device.type == "mps" else torch.float64)


def weight_optimizer(params, ctx: RunContext) -> torch.optim.Optimizer:
    """Adam (default) or SGD with momentum for the network's weights (cfg.optimizer)."""
    cfg = ctx.cfg
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            **step_kind(ctx.device, torch.optim.SGD),
        )
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **step_kind(ctx.device))


def arch_optimizer(params, ctx: RunContext) -> torch.optim.Optimizer:
    """The gates' own optimizer (seed 001 trains them apart from the weights, with their own rate)."""
    cfg = ctx.cfg
    if cfg.arch_optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.arch_lr, momentum=cfg.momentum, **step_kind(ctx.device, torch.optim.SGD))
    return torch.optim.Adam(params, lr=cfg.arch_lr, **step_kind(ctx.device))


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
    # amp=bf16 only here: no quantizer rounds in the float network; BatchNorm over the global batch on GPUs
    with ctx.float_autocast(), synced_batchnorms(model, ctx.device):
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


class SmallState:
    """The plain state of several parts of a phase (e.g. strengths, hardening) as one checkpoint entry."""

    def __init__(self, *parts) -> None:
        self.parts = parts

    def state_dict(self) -> dict[str, Any]:
        return {k: v for part in self.parts for k, v in part.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for part in self.parts:
            part.load_state_dict(state)


def reserve_min_channels(net: Supernet, cfg: SearchConfig) -> None:
    """No layer death: every prunable group keeps at least cfg.min_kept(C) channels, the ones its
    gates want most right now (recomputed between epochs, so the choice follows the search)."""
    for gates in net.weight_gates():
        gates.reserve_most_kept(cfg.min_kept(gates.channels) if gates.channels > 1 else 1)


def temperature_schedule(cfg: SearchConfig, epochs: int) -> TemperatureSchedule:
    return TemperatureSchedule(
        cfg.tau_schedule, cfg.tau0, cfg.tau_decay, tau_final=cfg.tau_final, epochs=max(epochs, 1)
    )


def search(
    net: Supernet,
    ctx: RunContext,
    phase: str = "search",
    stages: Sequence[Stage] | None = None,
    on_stage_end: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Differentiable search: weights and gates trained together on task loss + the cost penalty
    (search/penalty.py: a fixed strength, or one adaptive strength per limit of the run).

    `stages`: (budget, epochs) pairs run one after the other on the same supernet, optimizers and
    strengths (the regularization path of search/path.py); a stage's budget replaces cfg.budget, the
    other limits hold in every stage. `on_stage_end(k)` is called after each stage, also when a
    resumed run finds it already done. Default: one stage (cfg.budget, search_epochs).
    """
    cfg = ctx.cfg
    stages = list(stages) if stages else [(cfg.budget, cfg.search_epochs)]
    total = sum(epochs for _, epochs in stages)
    steps = max(1, math.ceil(len(ctx.data.train) / cfg.batch_size))
    # seed 001 trains the weights and the gates apart, each with its own optimizer and rate
    w_opt = weight_optimizer(net.weight_parameters(), ctx)
    w_sched = lr_schedule(w_opt, total, ctx)
    a_opt = arch_optimizer(net.arch_parameters(), ctx)
    tau = temperature_schedule(cfg, total)  # annealed by the library, not left to the caller
    penalty = CostPenalty(net, ctx, [budget for budget, _ in stages], steps)
    hardening = Hardening(cfg, total)
    net.set_sampling(cfg.sampling)

    def epoch(stage: int, e: int, local: int, epochs: int, gen: torch.Generator) -> dict:
        """Epoch `e` of the search, `local` of its stage's `epochs`."""
        reserve_min_channels(net, cfg)
        hard = hardening.active(e)
        net.set_sampling(hardened(cfg.sampling) if hard else cfg.sampling)
        net.train()
        penalty.start_epoch(stage, local)
        task_sum, n = 0.0, 0  # on the device, read once per epoch
        for i, (x, y) in enumerate(
            batches(ctx.data.train, cfg.batch_size, shuffle=True, generator=gen, augment=ctx.data.augment)
        ):
            # "anneal" moves tau every step (it ends at tau_final), the other schedules once per epoch
            net.set_temperature(tau(e + (i + 1) / steps if tau.kind == "anneal" else e))
            if cfg.sampling in ("gumbel", "hard-gumbel"):
                net.resample(gen)
            task_loss = F.cross_entropy(net(x), y)
            loss = task_loss + penalty((local + (i + 1) / steps) / epochs)
            w_opt.zero_grad(set_to_none=True)
            a_opt.zero_grad(set_to_none=True)
            loss.backward()
            w_opt.step()
            a_opt.step()
            penalty.after_step()  # the strengths follow the deployed (argmax) costs
            task_sum, n = task_sum + _summed(task_loss) * len(y), n + len(y)
        w_sched.step()
        costs = penalty.costs_row()
        deployed_acc = hard_accuracy(net, ctx)  # what discretization would deploy now
        hardening.after_epoch(hard, deployed_acc)
        tau_now = float(next(net.all_gates()).tau)
        row = {"task_loss": float(task_sum) / max(n, 1), "val_acc": deployed_acc, **costs, "tau": tau_now}
        return {**row, **penalty.strengths_row(), "hard_gates": int(hard)}

    objects = {"net": net, "w_opt": w_opt, "a_opt": a_opt, "w_sched": w_sched}
    extra = SmallState(penalty, hardening)  # checkpointed beside the objects' state dicts
    offset = 0
    for k, (_, epochs) in enumerate(stages):
        name = phase if len(stages) == 1 else f"{phase}-{k}"
        ctx.phase(
            name,
            epochs,
            objects,
            lambda e, g, k=k, o=offset, n=epochs: epoch(k, o + e, e, n, g),
            extra=extra.state_dict,
            restore_extra=extra.load_state_dict,
        )
        offset += epochs
        reserve_min_channels(net, cfg)  # from the stage's final gates: a resumed run discretizes alike
        if on_stage_end is not None:
            on_stage_end(k)
    net.set_sampling("soft")
    return {"search_val_acc": hard_accuracy(net, ctx), **penalty.summary()}


def hard_accuracy(net: Supernet, ctx: RunContext) -> float:
    """Validation accuracy of the argmax architecture (what discretization would pick), before fine-tuning."""
    mode = next(net.all_gates()).mode
    net.set_sampling("hard")
    try:
        return evaluate(net, ctx.data.val)
    finally:
        net.set_sampling(mode)
