"""Does a design fit the device? Flash (weights + metadata) and SRAM (peak activations), with numbers.

Flash need = the `memory` cost (packed weights + per-channel bias/multiplier/shift: exactly the
exporter's bytes); SRAM need = `peak_activation_ram` (the exporter's live buffers at their
peak). Limits default to the target's flash_bytes / ram_bytes; a search may give tighter ones
(`budget` on Flash, `ram_budget` on RAM). `limit_costs` gives both needs as differentiable
tensors for a budget controller with two constraints (see docs/latency.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from cost_models.registry import evaluate
from supernet.spec import LayerChoice
from targets.target import Target

FLASH_COST, RAM_COST = "memory", "peak_activation_ram"


@dataclass(frozen=True)
class Fit:
    target: str
    flash_bytes: int  # needed
    flash_limit: int
    ram_bytes: int  # needed
    ram_limit: int

    @property
    def fits_flash(self) -> bool:
        return self.flash_bytes <= self.flash_limit

    @property
    def fits_ram(self) -> bool:
        return self.ram_bytes <= self.ram_limit

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_ram

    def to_dict(self) -> dict:
        return {**asdict(self), "fits_flash": self.fits_flash, "fits_ram": self.fits_ram, "fits": self.fits}

    def summary(self) -> str:
        """One line: 'fits gap8: Flash 12,345 / 8,388,608 B, RAM 4,096 / 524,288 B' (or 'does not fit')."""
        verdict = "fits" if self.fits else "does not fit"
        flash = f"Flash {self.flash_bytes:,} / {self.flash_limit:,} B{'' if self.fits_flash else ' (over)'}"
        ram = f"RAM {self.ram_bytes:,} / {self.ram_limit:,} B{'' if self.fits_ram else ' (over)'}"
        return f"{verdict} {self.target}: {flash}, {ram}"


def limits(target: Target, flash_budget: float | None = None, ram_budget: float | None = None) -> tuple[int, int]:
    """(Flash limit, RAM limit) in bytes: the given budgets, else the target's memories."""
    for name, value in (("budget", flash_budget), ("ram_budget", ram_budget)):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be > 0 bytes, got {value!r}")
    flash = int(flash_budget) if flash_budget is not None else target.flash_bytes
    ram = int(ram_budget) if ram_budget is not None else target.ram_bytes
    return flash, ram


def limit_costs(choices: Sequence[LayerChoice], target: Target) -> dict[str, Tensor]:
    """{"memory": Flash bytes, "peak_activation_ram": RAM bytes}, differentiable w.r.t. the choices."""
    return {FLASH_COST: evaluate(FLASH_COST, choices, target), RAM_COST: evaluate(RAM_COST, choices, target)}


def check_fit(
    choices: Sequence[LayerChoice], target: Target, flash_budget: float | None = None, ram_budget: float | None = None
) -> Fit:
    """The Flash and SRAM a discrete architecture (one-hot choices) needs against the limits."""
    flash_limit, ram_limit = limits(target, flash_budget, ram_budget)
    with torch.no_grad():
        need = {k: float(v) for k, v in limit_costs(choices, target).items()}
    return Fit(target.name, round(need[FLASH_COST]), flash_limit, round(need[RAM_COST]), ram_limit)
