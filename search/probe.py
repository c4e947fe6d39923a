"""The real training loop of each phase, a few steps of it, on a model and random data: for counting and timing.

The counting test (tests/search/test_step_counts.py) and benchmarks/throughput.py both run the loops
that a run runs (search.train's warm-up, search and fine-tune: data, augmentation, penalty, strength
controllers, optimizers), on random CIFAR-10-shaped uint8 images, so that what they count and time is
the real step, not a stand-in for it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from search.config import SearchConfig
from search.context import RunContext
from search.rundir import Checkpoints, History
from search.train import finetune, search, warmup
from supernet import Supernet, discretize, materialize, to_supernet
from targets import get_target
from zoo.data import DataSplits, InMemoryDataset, RandomCropFlip
from zoo.models import create_model

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
PHASES = ("warmup", "search", "finetune")

# the settings of each mode of the search step: a fixed strength, a budget, a budget and a RAM budget
MODES: dict[str, dict] = {
    "strength": {"target": "generic", "cost": "size"},
    "budget": {"target": "generic", "cost": "size", "budget": 20_000.0},
    "ram": {"target": "stm32h7", "cost": "memory", "budget": 20_000.0, "ram_budget": 60_000.0},
}


def random_splits(
    steps: int,
    batch: int,
    in_shape: tuple[int, ...] = (3, 32, 32),
    classes: int = 10,
    val: int = 64,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> DataSplits:
    """uint8 images of `steps` full training batches (CIFAR-10's statistics, random crop and flip)."""
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> InMemoryDataset:
        x = torch.randint(0, 256, (n, *in_shape), generator=g, dtype=torch.uint8)
        y = torch.randint(0, classes, (n,), generator=g)
        return InMemoryDataset(x, y, CIFAR_MEAN[: in_shape[0]], CIFAR_STD[: in_shape[0]]).to(device)

    return DataSplits(
        "random", split(steps * batch), split(val), split(val), classes, in_shape, augment=RandomCropFlip(4)
    )


def probe_context(cfg: SearchConfig, data: DataSplits, folder: Path, device: torch.device) -> RunContext:
    """A RunContext writing its history and checkpoints under `folder`."""
    target = get_target(cfg.target).with_flavour(cfg.flavour)
    cost = cfg.cost or target.costs[0]
    return RunContext(
        cfg,
        folder,
        data,
        target,
        cost,
        History(folder / "history.csv"),
        Checkpoints(folder / "checkpoints"),
        device=device,
    )


def probe_config(mode: str, batch: int, **overrides) -> SearchConfig:
    """One epoch of each phase at `batch`, in one of MODES, no progress output."""
    settings = {"device": "cpu", **MODES[mode], **overrides}
    return SearchConfig(
        model="resnet8",
        dataset="random",
        batch_size=batch,
        warmup_epochs=1,
        search_epochs=1,
        finetune_epochs=1,
        progress=False,
        **settings,
    )


def build_supernet(model: nn.Module, ctx: RunContext) -> Supernet:
    bits = tuple(sorted({0, *(ctx.cfg.bits or ctx.target.weight_bits)}))
    return to_supernet(model, ctx.data.train.batch(slice(0, 256))[0], bits=bits, act_bits=ctx.cfg.act_bits)


def run_phases(
    cfg: SearchConfig,
    data: DataSplits,
    device: torch.device,
    around: Callable[[str, Callable[[], object]], object] = lambda phase, fn: fn(),
) -> None:
    """Warm-up, search and fine-tune of `cfg.model` on `data`, each phase's call wrapped by `around(phase, fn)`
    (a counter or a timer around that phase alone)."""
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, data.num_classes, data.in_shape).to(device)
    with tempfile.TemporaryDirectory(prefix="bitgate-probe-") as tmp:
        ctx = probe_context(cfg, data, Path(tmp), device)
        around("warmup", lambda: warmup(model, ctx))
        net = build_supernet(model, ctx).to(device)
        around("search", lambda: search(net, ctx))
        small = materialize(net, discretize(net, {})).to(device)
        around("finetune", lambda: finetune(small, replace(ctx, cfg=cfg)))
