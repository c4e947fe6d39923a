"""From samples to a latency table file with its provenance, and the target file that names it.

The provenance says everything the counts depend on: CMSIS-NN's sources (a hash), the compiler and the
optimisation level, QEMU, the grid (size, seed, calls measured). The coefficients are the fit of
deploy/calibration/fit.py, rounded to 6 significant digits, so the same grid on the same tools writes the
same table (only the date differs).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cost_models.cortexm_table import LatencyTable, dumps
from deploy.calibration.fit import fit_samples
from deploy.calibration.samples import Sample
from deploy.firmware import find_cmsis_nn, find_toolchain, get_board
from deploy.firmware.cache import files_digest
from deploy.firmware.cmsis_lib import cmsis_sources
from deploy.firmware.toolchain import tool_version

# cycles per instruction the skeleton of a new device starts from, by core (the built-in targets' factors,
# derived from published figures in targets/devices/*.toml); replace it with a board's DWT log
DEFAULT_CPI = {
    "m4": (1.57, "stm32l4.toml"),
    "m7": (1.06, "stm32h7.toml"),
    "m33": (1.38, "stm32u5.toml"),
    "m55": (1.5, "alif_e7.toml"),
}


def table_file(core: str) -> str:
    return f"cortex-{core}.toml"


def provenance(core: str, opt: str, grid_size: int, seed: int, calls: int) -> dict[str, Any]:
    """What a table's counts depend on (strings, for the table's [provenance])."""
    tools = find_toolchain()
    cmsis = find_cmsis_nn()
    board = get_board(core)
    return {
        "board": f"{board.core} on QEMU {board.machine} (deploy/firmware/boards.toml)",
        "cmsis_nn": f"sources {files_digest([*cmsis_sources(cmsis), *(cmsis / 'Include').rglob('*.h')], cmsis)}"
        if cmsis
        else "unknown",
        "compiler": tool_version(tools.gcc) if tools.gcc else "unknown",
        "opt": opt,
        "qemu": tool_version(tools.qemu) if tools.qemu else "unknown",
        "grid": f"deploy.calibration.grid(size={grid_size}, seed={seed}): {calls} calls",
        "date": datetime.date.today().isoformat(),
    }


def build_table(samples: Sequence[Sample], core: str, prov: dict[str, Any]) -> LatencyTable:
    """The fitted table of one core's samples."""
    fits = fit_samples(samples, get_board(core).cmsis_nn)
    fit = {
        k: {"samples": f.samples, "median_error": round(f.median_error, 4), "max_error": round(f.max_error, 4)}
        for k, f in fits.items()
    }
    return LatencyTable(core, get_board(core).cmsis_nn, {k: f.coefficients for k, f in fits.items()}, prov, fit)


HEADER = """Retired instructions per CMSIS-NN call of bitgate's cmsis-nn export on {core}, per kernel kind:
instructions = sum of coefficient x feature (cost_models/cortexm_features.py). Measured exactly (QEMU TCG
plugin) over a grid of small networks, fitted by deploy/calibration/fit.py; written by {writer}.
[fit.<kind>]: samples and the fit's relative error on them. Do not edit by hand: recalibrate."""


def write_table(table: LatencyTable, path: Path, writer: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(table, HEADER.format(core=get_board(table.core).core, writer=writer)))
    return path


def target_skeleton(name: str, core: str, table: str) -> str:
    """A target TOML naming the table, to be completed with the device's own figures."""
    cpi, source = DEFAULT_CPI[core]
    board = get_board(core)
    return f"""# {name}: a {board.core} device (fill in the figures of its datasheet).
name = "{name}"
description = "{board.core} with CMSIS-NN"
family = "cortex-m"
flash_bytes = 1_048_576     # TODO: the device's Flash
ram_bytes = 262_144         # TODO: the SRAM the activations live in
clock_hz = 100_000_000      # TODO: the core clock
weight_bits = [0, 4, 8]     # CMSIS-NN: s8 and s4 kernels, no 2-bit
act_bits = [8]
costs = ["memory", "latency_cortexm", "peak_activation_ram"]
flavour = "cmsis-nn"

[params]
activation_storage = "byte"
core = "{core}"  # the emulated core the latency table was measured on
# Measured on the emulated {board.core} by `bitgate calibrate --core {core}`.
latency_table = "{table}"
# TODO: this device's cycles per instruction. Started from bitgate's {source} ({cpi}, a published-figure
# estimate); measure it with `bitgate calibrate --import-log <the board's bg-mark log> --export <export dir>
# --core {core} --target <this file>`.
cycles_per_instruction = {cpi}
"""
