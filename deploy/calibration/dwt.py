"""A real board's DWT cycle log against the emulator's instruction counts: cycles per instruction.

The profiling firmware of an export (deploy/firmware, `profile=True`) prints `bg-mark <inference> <id>
<cycles>` lines; flashed on a board with a debugger attached (semihosting), the cycles are the DWT cycle
counter's. The same image on QEMU gives the exact instructions of every piece. Their ratio is the board's
cycles per instruction: overall (the factor a target file needs, `cycles_per_instruction`) and per kernel
kind (how far one factor is from the truth for a network of other kinds).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deploy.calibration.samples import samples_of
from deploy.firmware import build_firmware, get_board, log_counts, run_firmware
from deploy.firmware.toolchain import FirmwareError

_CPI_LINE = re.compile(r"^cycles_per_instruction\s*=.*$", re.M)


@dataclass(frozen=True)
class CpiFit:
    core: str
    inferences: int  # in the log
    cycles: float  # mean cycles per inference on the board
    instructions: float  # instructions per inference on the emulated core
    cpi: float
    per_kind: dict[str, dict[str, float]]  # kind -> cycles, instructions, cpi (per inference)

    def to_dict(self) -> dict[str, Any]:
        return {
            "core": self.core,
            "inferences": self.inferences,
            "cycles": self.cycles,
            "instructions": self.instructions,
            "cycles_per_instruction": self.cpi,
            "per_kind": self.per_kind,
        }


def export_markers(export_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(manifest, markers) of a cmsis-nn C export, or FirmwareError naming what is missing."""
    path = export_dir / "model.json"
    if not path.is_file():
        raise FirmwareError(f"{export_dir} holds no C export (model.json): export the run with --flavour cmsis-nn")
    manifest = json.loads(path.read_text())
    if manifest.get("flavour") != "cmsis-nn" or "markers" not in manifest:
        raise FirmwareError(f"{export_dir}: not a cmsis-nn export with a marker list (export it again)")
    return manifest, manifest["markers"]


def import_log(text: str, export_dir: Path, core: str, opt: str = "-O2") -> CpiFit:
    """Cycles per instruction of the board that printed `text` (the export's profiling firmware), against
    the same export on the emulated `core`."""
    manifest, markers = export_markers(export_dir)
    board_counts = log_counts(text, markers)  # cycles per piece; FirmwareError if the ids do not match
    if len(board_counts.total) == 0:
        raise FirmwareError("the log has no bg-mark lines (print the profiling firmware's output)")
    fw = build_firmware(export_dir, core, opt=opt, profile=True)
    m = run_firmware(fw, np.zeros((1, fw.input_size), dtype=np.int8))
    samples = samples_of(
        manifest, list(markers), m.per_marker[0], int(m.counts.call[0]), get_board(core).cmsis_nn, export_dir.name
    )
    cycles = board_counts.pieces.mean(axis=0)
    per_kind: dict[str, dict[str, float]] = {}
    for i, s in enumerate(samples):
        row = per_kind.setdefault(s.kind, {"cycles": 0.0, "instructions": 0.0})
        row["cycles"] += float(cycles[i]) + (float(board_counts.call.mean()) if s.kind == "network" else 0.0)
        row["instructions"] += float(s.instructions)
    for row in per_kind.values():
        row["cpi"] = row["cycles"] / row["instructions"] if row["instructions"] else float("nan")
    total_cycles, total_insn = float(board_counts.total.mean()), float(m.instructions[0])
    return CpiFit(core, len(board_counts.total), total_cycles, total_insn, total_cycles / total_insn, per_kind)


def set_target_cpi(target_toml: Path, fit: CpiFit, log: Path) -> str:
    """The target file's text with its cycles_per_instruction set to the fit (ValueError: no such line)."""
    text = target_toml.read_text()
    if len(_CPI_LINE.findall(text)) != 1:
        raise ValueError(f"{target_toml}: needs exactly one `cycles_per_instruction = ...` line to replace")
    line = (
        f"cycles_per_instruction = {fit.cpi:.4g}  # measured: {log.name}, {fit.inferences} inferences, "
        f"{fit.cycles:,.0f} cycles / {fit.instructions:,.0f} instructions ({fit.core})"
    )
    return _CPI_LINE.sub(line, text)
