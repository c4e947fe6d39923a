"""What every phase of a run shares: config, data, target, and the run folder's bookkeeping."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from search.config import SearchConfig
from search.data import DataSplits
from search.ddp import data_parallel
from search.device import float_autocast
from search.rundir import Checkpoints, History
from targets.target import Target


def epoch_generator(seed: int, phase: str, epoch: int) -> torch.Generator:
    """Seed torch and return a generator from (seed, phase, epoch) alone, so a resumed epoch replays exactly."""
    s = (seed * 1_000_003 + zlib.crc32(phase.encode()) * 1_009 + epoch) % (2**63)
    torch.manual_seed(s)
    return torch.Generator().manual_seed(s)


@dataclass
class RunContext:
    cfg: SearchConfig
    run_dir: Path
    data: DataSplits
    target: Target
    cost: str
    history: History
    checkpoints: Checkpoints
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def float_autocast(self) -> AbstractContextManager:
        """cfg.amp's autocast for the float network (the warm-up); see search.device.float_autocast."""
        return float_autocast(self.cfg.amp, self.device)

    def phase(
        self,
        name: str,
        epochs: int,
        objects: dict[str, Any],
        epoch_fn: Callable[[int, torch.Generator], dict[str, float]],
        extra: Callable[[], dict[str, Any]] | None = None,
        restore_extra: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Run epochs [resume point, epochs) of one phase; checkpoint after each epoch.

        objects: everything with a state_dict that the phase changes (models, optimizers).
        extra/restore_extra: small plain state outside those objects (e.g. an adaptive lambda).
        """
        start, saved = self.checkpoints.restore(name, objects)
        if restore_extra is not None and saved:
            restore_extra(saved)
        # disable=None: bars only on a terminal, so logs and CI output stay clean
        bar = tqdm(range(start, epochs), desc=f"{self.cfg.method}:{name}", disable=None if self.cfg.progress else True,
                   leave=False, dynamic_ncols=True)  # fmt: skip
        modules = [o for o in objects.values() if isinstance(o, nn.Module)]
        with data_parallel(modules, self.device):  # DistributedDataParallel under torchrun; else nothing
            for epoch in bar:
                metrics = epoch_fn(epoch, epoch_generator(self.cfg.seed, name, epoch))
                self.history.log(name, epoch, metrics)
                self.checkpoints.save(name, epoch + 1, objects, extra() if extra else None)
                bar.set_postfix({k: _short(v) for k, v in metrics.items()})


def _short(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
