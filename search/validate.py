"""Everything about a configuration that can be checked before training, and before a run folder exists.

The run folder is created only after these checks pass, so a refused setting leaves nothing on
disk and spends no epochs: unknown names, bit-widths the target's kernels lack, budgets below the
smallest viable network, unsafe run names, an out_dir that cannot hold runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from search.config import ConfigError, SearchConfig
from search.methods import method_spec
from search.output_paths import check_folder_path
from targets.target import Target

MAX_NAME = 100  # leaves room for "-NNNN" and file names below the usual 255-byte limit
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")


def safe_name(text: str) -> str:
    """A filesystem-safe folder name from `text` (e.g. 'tv:resnet18' -> 'tv-resnet18'), at most MAX_NAME long."""
    name = re.sub(r"[^A-Za-z0-9._+=-]+", "-", text).strip("-.") or "run"
    return name[:MAX_NAME].rstrip("-.")


def check_name(name: str, key: str = "name") -> None:
    """A run or sweep name the user gave: one folder name, never a path."""
    if len(name) > MAX_NAME:
        raise ConfigError(f"{key} is {len(name)} characters long; use at most {MAX_NAME}")
    if ".." in name or "/" in name or "\\" in name or not _SAFE.fullmatch(name):
        raise ConfigError(
            f"{key} {name!r} must be one folder name: letters, digits and . _ + = - "
            "(no path separators, no '..', not starting with '.' or '-')"
        )


def check_out_dir(out_dir: str) -> Path:
    """out_dir must be (or become) a folder we can write into, with room for run folders; returns it as a Path."""
    if not str(out_dir).strip():
        raise ConfigError("out_dir is empty; give the folder for run folders, e.g. out_dir=runs")
    return check_folder_path(out_dir, "out_dir")


def check_target_bits(cfg: SearchConfig, target: Target) -> None:
    """Weight and activation bit-widths the target's kernels can run (0 = pruned)."""
    storable = {0} | set(target.weight_bits) | set(target.storage_bits)
    stores = method_spec(cfg.method).stores
    if stores is not None:  # a method that stores its own widths (uniform: uniform_bits), whatever `bits` says
        lacking = [b for b in stores(cfg) if b not in storable]
        if lacking:
            raise ConfigError(
                f"method {cfg.method} stores {lacking[0]}-bit weights: target {target.name} has no "
                f"kernel for them; use some of {', '.join(str(b) for b in sorted(storable) if b)}"
            )
    if cfg.bits is not None:
        lacking = [b for b in cfg.bits if b not in storable]
        if lacking:
            raise ConfigError(
                f"bits {list(cfg.bits)}: target {target.name} has no kernel for {lacking[0]}-bit "
                f"weights; use some of {', '.join(map(str, sorted(storable)))}"
            )
        if not any(b > 0 for b in cfg.bits):
            raise ConfigError(f"bits {list(cfg.bits)} prune everything; add a non-zero bit-width, e.g. bits=0,4,8")
    lacking = [b for b in cfg.act_bits if b not in target.act_bits]
    if lacking:
        raise ConfigError(
            f"act_bits {list(cfg.act_bits)}: target {target.name} has no kernel for {lacking[0]}-bit "
            f"activations; use some of {', '.join(map(str, target.act_bits))}"
        )


def check_settings(cfg: SearchConfig, target: Target, new_folder: bool = True) -> None:
    """Checks that need no model or data (name and out_dir only when a new folder will be made)."""
    check_target_bits(cfg, target)
    if method_spec(cfg.method).needs_path_search and cfg.from_search is None:
        raise ConfigError(
            f"method {cfg.method} traces a front in one search: use `bitgate sweep --methods "
            f"{cfg.method} --budgets 30kB,15kB,6kB`, or method=joint for a single search"
        )
    if new_folder:
        check_out_dir(cfg.out_dir)
        if cfg.name is not None:
            check_name(cfg.name)
    if getattr(cfg, "tensorboard", False):
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:
            raise ConfigError("tensorboard = true needs the tensorboard package: pip install tensorboard") from None


def _every_channel(channels: int) -> int:
    return channels


def check_budget(
    cfg: SearchConfig,
    model: nn.Module,
    in_shape: tuple[int, ...],
    target: Target,
    cost: str,
    min_channels: int | Callable[[int], int] = 1,
) -> None:
    """Refuse a limit (budget, ram_budget, the target's memories) that no architecture can meet,
    before any epoch is spent."""
    from search.constraints.limits import has_limits, run_limits

    spec = method_spec(cfg.method)
    if not has_limits(cfg) or not spec.takes_budget:
        return
    from search.constraints.viability import smallest_viable_cost

    # the widths this method may end with: the search's options, or (admm, importance, twonn) any storable width
    storable = tuple(sorted(set(target.weight_bits) | set(target.storage_bits)))
    bits = cfg.bits if cfg.bits is not None else (storable if spec.storable_widths else target.weight_bits)
    keep_all = not spec.prunes
    if keep_all:  # channel-mps, layer-mps: every channel stays, at the search's own widths
        min_channels = _every_channel
        bits = cfg.bits if cfg.bits is not None else target.weight_bits
    for limit in run_limits(cfg, target, cost):
        floor = smallest_viable_cost(
            model,
            torch.zeros(2, *in_shape),
            target,
            limit.cost,
            bits,
            cfg.act_bits,
            min_channels,
            exclude=cfg.exclude,
            keep_channels=cfg.keep_channels,
        )
        if limit.budget < floor:
            kept = (
                f"{cfg.method} prunes no channel"
                if keep_all
                else f"each prunable group at min_channels={cfg.min_channels:g}"
            )
            kept += ", keep_channels at all their channels" if cfg.keep_channels and not keep_all else ""
            key = limit.source if limit.source != "fit_target" else f"fit_target ({target.name}'s memory)"
            raise ConfigError(
                f"{key} {limit.budget:g} is below the smallest viable {cfg.model} on {target.name}: "
                f"{limit.cost} {floor:g} ({kept}, lowest bits); raise it"
            )
