"""`bitgate calibrate`: a latency table for a Cortex-M core, or a board's cycles per instruction.

    bitgate calibrate --core m33 --out my_targets/     # the calibration grid on the emulated core
    bitgate calibrate --import-log board.log --export runs/x/export/cmsis-nn --core m33 --target my.toml

The first measures the grid (deploy/calibration) and writes OUT/cortex-<core>.toml (the table) and
OUT/<name>.toml (a target file naming it, to complete with the device's datasheet figures). The second
reads the `bg-mark` lines a board printed running the export's profiling firmware, runs the same firmware
on the emulated core, and reports cycles per instruction (overall and per kernel kind); with --target it
sets that file's cycles_per_instruction. Bad input is refused in one line before anything is written.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploy.calibration import grid, measure_grid
from deploy.calibration.dwt import CpiFit, export_markers, import_log, set_target_cpi
from deploy.calibration.tables import build_table, provenance, table_file, target_skeleton, write_table
from deploy.firmware import FirmwareError, boards, find_cmsis_nn, find_toolchain
from deploy.firmware.cmsis_lib import check_opt
from search.config import ConfigError

LOG = logging.getLogger("bitgate")
MIN_NETWORKS = 10
GRID_SEED = 0


@dataclass(frozen=True)
class Calibrated:
    table: Path
    target: Path
    calls: int


def _core(core: str) -> str:
    known = boards()
    if core not in known:
        raise ConfigError(f"--core {core!r}: unknown core; choose from {', '.join(n for n in known if n != 'm3')}")
    if known[core].cmsis_nn not in ("dsp", "mve"):
        raise ConfigError(f"--core {core}: runs CMSIS-NN's plain C path; calibrate a DSP or Helium core")
    return core


def _opt(opt: str) -> str:
    try:
        return check_opt(opt if opt.startswith("-") else f"-{opt}")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def check_tools() -> None:
    """One line naming what to install when the firmware cannot be built here."""
    problem = find_toolchain().problem
    if problem is None and find_cmsis_nn() is None:
        problem = "CMSIS-NN sources not found: set CMSIS_NN_PATH or put them in shared/third_party/CMSIS-NN"
    if problem:
        raise ConfigError(problem)


def calibrate(core: str, out: Path, name: str | None = None, networks: int = 160, opt: str = "O2") -> Calibrated:
    """Measure the grid on `core` and write OUT/cortex-<core>.toml and OUT/<name>.toml."""
    core, opt = _core(core), _opt(opt)
    if networks < MIN_NETWORKS:
        raise ConfigError(
            f"--networks must be at least {MIN_NETWORKS} (every kernel kind needs samples), got {networks}"
        )
    name = name or f"my_{core}"
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"--name {name!r}: a target name is letters, digits, '-' and '_'")
    table_path, target_path = out / table_file(core), out / f"{name}.toml"
    for path in (table_path, target_path):
        if path.exists():
            raise ConfigError(f"{path} exists: remove it or choose another --out / --name")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    check_tools()
    with tempfile.TemporaryDirectory(prefix="bitgate-calibrate-") as work:
        samples = measure_grid(grid(networks, GRID_SEED), [core], Path(work), opt, log=LOG.info)[core]
    table = build_table(samples, core, provenance(core, opt, networks, GRID_SEED, len(samples)))
    write_table(table, table_path, f"`bitgate calibrate --core {core}`")
    target_path.write_text(target_skeleton(name, core, table_path.name))
    return Calibrated(table_path, target_path, len(samples))


def import_board_log(
    log: Path, export: Path, core: str, target: Path | None = None, out: Path | None = None, opt: str = "O2"
) -> tuple[CpiFit, Path]:
    """Cycles per instruction from a board's log; writes OUT (default LOG.cpi.json) and updates `target`."""
    core, opt = _core(core), _opt(opt)
    if not log.is_file():
        raise ConfigError(f"--import-log {log}: no such file")
    text = log.read_text(errors="replace")
    if "bg-mark " not in text:
        raise ConfigError(f"{log}: no `bg-mark` lines (the output of the export's profiling firmware on the board)")
    try:
        export_markers(export)
    except FirmwareError as exc:
        raise ConfigError(str(exc)) from None
    if target is not None and not target.is_file():
        raise ConfigError(f"--target {target}: no such file")
    check_tools()
    try:
        fit = import_log(text, export, core, opt)
    except FirmwareError as exc:
        if "mark ids" in str(exc) or "mark readings" in str(exc):
            raise ConfigError(f"{log}: {exc}") from None
        raise
    updated = set_target_cpi(target, fit, log) if target is not None else None
    out = out or log.with_name(log.name + ".cpi.json")
    out.write_text(json.dumps(fit.to_dict(), indent=1) + "\n")
    if updated is not None:
        target.write_text(updated)
    return fit, out
