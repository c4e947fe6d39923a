"""What every phase of a run shares: config, data, target, and the run folder's bookkeeping.

`RunContext.phase` is the one loop every phase (warm-up, search, QAT, fine-tune, ADMM, ...) runs
through, so its guards apply to all of them: a checkpoint after each epoch, written with Ctrl-C
held back; a divergence check that refuses to checkpoint non-finite or exploding state; progress
as a bar on a terminal and as one `logging` line per epoch anywhere else.
"""

from __future__ import annotations

import logging
import math
import sys
import time
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
from search.ddp import data_parallel, is_main
from search.device import float_autocast
from search.errors import TrainingDiverged
from search.numerics import compiled
from search.rundir import Checkpoints, History
from targets.target import Target
from zoo.data import DataSplits

log = logging.getLogger("bitgate")

# A cross-entropy this large means logits of that order: the weights have blown up, not learned.
BLOWUP_LOSS = 1e4
# ... and so does one that is above 10 and 100x the phase's best epoch so far (lr=1 rather than 1e6).
BLOWUP_FACTOR, BLOWUP_FLOOR = 100.0, 10.0
LOSS_KEYS = ("loss", "task_loss")


def epoch_generator(seed: int, phase: str, epoch: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Seed torch and return a generator from (seed, phase, epoch) alone, so a resumed epoch replays exactly.

    The generator lives on the run's device: shuffling, augmentation and Gumbel noise are drawn there, with
    no copy from the host per step. On the CPU that is the stream every run always drew; a GPU run draws
    another stream from the same seed (reproducible on that device type, not equal to the CPU's)."""
    s = (seed * 1_000_003 + zlib.crc32(phase.encode()) * 1_009 + epoch) % (2**63)
    torch.manual_seed(s)
    return torch.Generator(device=device).manual_seed(s)


def divergence(metrics: dict[str, Any], objects: dict[str, Any], best: dict[str, float] | None = None) -> str | None:
    """Why this epoch's state must not be kept (non-finite or exploding loss, non-finite weights), or None.

    best: the lowest value of each loss in the phase's earlier epochs (from history.csv).
    """
    for key in LOSS_KEYS:
        v = metrics.get(key)
        if not isinstance(v, (int, float)):
            continue
        if not math.isfinite(v):
            return f"{key} {v}"
        if v > BLOWUP_LOSS:
            return f"{key} {v:.3g} > {BLOWUP_LOSS:g}"
        low = (best or {}).get(key)
        if low is not None and v > BLOWUP_FLOOR and v > BLOWUP_FACTOR * low:
            return f"{key} {v:.3g}, over {BLOWUP_FACTOR:g}x its best {low:.3g} in this phase"
    for name, obj in objects.items():
        if isinstance(obj, nn.Module):
            for pname, p in obj.named_parameters():
                if not torch.isfinite(p).all():
                    return f"non-finite weights in {name}.{pname}"
    return None


def best_losses(history: History, phase: str, before: int) -> dict[str, float]:
    """The lowest finite value of each loss key over the phase's epochs < `before` in history.csv."""
    best: dict[str, float] = {}
    for row in history.rows:
        if row.get("phase") != phase or int(row["epoch"]) >= before:
            continue
        for key in LOSS_KEYS:
            try:
                v = float(row.get(key, "nan"))
            except (TypeError, ValueError):
                continue
            if math.isfinite(v):
                best[key] = min(v, best.get(key, math.inf))
    return best


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def epoch_summary(metrics: dict[str, Any]) -> str:
    """'loss 0.52, val acc 81.2%, cost 1,234' (only the metrics present): what the log line and the progress
    bar both show, in the same units, so the bar keeps its width instead of listing every metric."""
    parts = []
    loss = metrics.get("loss", metrics.get("task_loss"))
    if isinstance(loss, (int, float)):
        parts.append(f"loss {loss:.4g}")
    if isinstance(metrics.get("val_acc"), (int, float)):
        parts.append(f"val acc {100 * metrics['val_acc']:.1f}%")
    cost = metrics.get("arch_cost", metrics.get("cost"))
    if isinstance(cost, (int, float)) and math.isfinite(cost):
        parts.append(f"cost {cost:,.0f}")
    return ", ".join(parts)


def progress_line(phase: str, epoch: int, epochs: int, metrics: dict[str, Any], elapsed: float, eta: float) -> str:
    """'search 3/20: loss 0.52, val acc 81.2%, cost 1,234, elapsed 0:12, ETA 0:40' (only the metrics present)."""
    summary = epoch_summary(metrics)
    return f"{phase} {epoch}/{epochs}: {summary + ', ' if summary else ''}elapsed {_clock(elapsed)}, ETA {_clock(eta)}"


@dataclass
class RunContext:
    cfg: SearchConfig
    run_dir: Path
    data: DataSplits
    target: Target
    cost: str
    history: History
    checkpoints: Checkpoints
    resume_command: str = ""  # what the user types to continue (shown after divergence / Ctrl-C)
    reset_lr: bool = False  # a resume with a new lr: the optimizers take the config's lr, not the checkpoint's
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
        stop: Callable[[], bool] | None = None,
    ) -> None:
        """Run epochs [resume point, epochs) of one phase; checkpoint after each epoch.

        objects: everything with a state_dict that the phase changes (models, optimizers).
        extra/restore_extra: small plain state outside those objects (e.g. an adaptive lambda).
        stop: asked after each checkpointed epoch (and on resume); True ends the phase early
        (early stopping: its state lives in `objects`, so a resumed run stops where it would have).
        Raises TrainingDiverged (without checkpointing the bad epoch) when the state stops being finite.
        """
        fresh_lrs = _learning_rates(objects)
        start, saved = self.checkpoints.restore(name, objects)
        if restore_extra is not None and saved:
            restore_extra(saved)
        if start > 0 and stop is not None and stop():
            return
        if self.reset_lr and start > 0:
            _set_learning_rates(objects, fresh_lrs)
        tty = sys.stdout.isatty()
        bar = tqdm(
            range(start, epochs),
            desc=f"{self.cfg.method}:{name}",
            disable=not (self.cfg.progress and tty),
            leave=True,
            dynamic_ncols=True,
        )
        board = _tensorboard(self) if getattr(self.cfg, "tensorboard", False) else None
        t0 = time.perf_counter()
        modules = [compiled(o, self.cfg.compile) for o in objects.values() if isinstance(o, nn.Module)]
        try:
            with data_parallel(modules, self.device):  # DistributedDataParallel under torchrun; else nothing
                for epoch in bar:
                    metrics = epoch_fn(epoch, epoch_generator(self.cfg.seed, name, epoch, self.device))
                    best = best_losses(self.history, name, before=epoch)
                    self.history.log(name, epoch, metrics)
                    why = divergence(metrics, objects, best)
                    if why is not None:
                        raise TrainingDiverged(self._diverged_message(name, epoch, epochs, why))
                    self.checkpoints.save(name, epoch + 1, objects, extra() if extra else None)
                    bar.set_postfix_str(epoch_summary(metrics))
                    elapsed = time.perf_counter() - t0
                    eta = elapsed / (epoch + 1 - start) * (epochs - epoch - 1)
                    if self.cfg.progress and not tty and is_main():  # one progress line per epoch, not per DDP rank
                        line = progress_line(f"{self.cfg.method} {name}", epoch + 1, epochs, metrics, elapsed, eta)
                        log.info("%s", line)
                    if board is not None:
                        for k, v in metrics.items():
                            if isinstance(v, (int, float)):
                                board.add_scalar(f"{name}/{k}", v, epoch)
                    if stop is not None and stop():
                        log.info("%s: early stop after epoch %d/%d", name, epoch + 1, epochs)
                        break
        finally:
            bar.close()
            if board is not None:
                board.close()

    def _diverged_message(self, phase: str, epoch: int, epochs: int, why: str) -> str:
        kept = f"kept the checkpoint of epoch {epoch}" if epoch > 0 else "no checkpoint of this phase was written"
        lower = f"{self.cfg.lr / 10 if self.cfg.lr <= 1e-2 else 1e-3:g}"  # a tenth, or the usual Adam lr
        hint = f"; resume with a lower lr: {self.resume_command} --set lr={lower}" if self.resume_command else ""
        return f"{phase} diverged at epoch {epoch + 1}/{epochs} ({why}); {kept}{hint}"


def _learning_rates(objects: dict[str, Any]) -> dict[str, list[float]]:
    return {k: [g["lr"] for g in v.param_groups] for k, v in objects.items() if isinstance(v, torch.optim.Optimizer)}


def _set_learning_rates(objects: dict[str, Any], lrs: dict[str, list[float]]) -> None:
    for k, values in lrs.items():
        for group, lr in zip(objects[k].param_groups, values, strict=False):
            group["lr"] = lr
            if "initial_lr" in group:
                group["initial_lr"] = lr


def _tensorboard(ctx: RunContext):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(ctx.run_dir / "tensorboard"))
