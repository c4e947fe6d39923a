"""From mark readings to counts per marked piece, per op, per layer, per kernel and per inference.

Every inference logs, in order: two back-to-back calibration marks, the CALL mark, the model's marks
(one before every piece, the last at bg_infer's end: model.json's "markers") and the RETURN mark
(c/bg_firmware.h). A reading is the instruction counter (QEMU plugin) or DWT->CYCCNT (a board) at the
mark's entry. The gap between two consecutive marks is the work between them plus one mark's own
cost, which the calibration pair measures; it is subtracted from every gap. Gap i -> i+1 is piece i;
the gaps CALL -> first mark and end mark -> RETURN are bg_infer's own prologue / epilogue ("(call)").
So the pieces plus "(call)" sum exactly to the inference (CALL to RETURN, marks removed).

The DWT log format (printed by c/marker.c, one line per mark, inferences numbered from 0):
    bg-mark <inference> <id> <cycles>
with id 65520 (calibration), 65521 (CALL), 0 .. len(markers) - 1 (the model), 65522 (RETURN).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deploy.firmware.toolchain import FirmwareError

MARK_CALIBRATE, MARK_CALL, MARK_RETURN = 0xFFF0, 0xFFF1, 0xFFF2
HARNESS_MARKS = 4  # calibration pair, CALL, RETURN
CALL = "(call)"
_LOG_LINE = re.compile(r"^bg-mark (\d+) (\d+) (\d+)\s*$")


@dataclass(frozen=True)
class Counts:
    mark_cost: int  # one mark's own cost (subtracted from every gap)
    total: np.ndarray  # (N,) per inference, CALL to RETURN
    pieces: np.ndarray  # (N, len(markers) - 1): the marked pieces
    call: np.ndarray  # (N,) bg_infer outside its pieces


def attribute(readings: Sequence[int] | np.ndarray, n_inputs: int, n_markers: int, modulo: int | None = None) -> Counts:
    """Counts from the readings of all marks of all inferences; n_markers = len(markers), 0 for a build
    without the model's marks; modulo: the counter's wrap (2**32 for CYCCNT)."""
    per = n_markers + HARNESS_MARKS
    r = np.asarray(readings, dtype=np.int64)
    if r.size != n_inputs * per:
        raise FirmwareError(
            f"{r.size} mark readings for {n_inputs} inferences of {per} marks each: the model's "
            "marks do not match model.json's marker list (or an inference stopped early)"
        )
    r = r.reshape(n_inputs, per)
    gaps = np.diff(r, axis=1)
    if modulo:
        gaps %= modulo
    cost = gaps[:, 0]
    if np.any(cost != cost[0]):
        raise FirmwareError(f"one mark cost {sorted(set(cost.tolist()))} across inferences: expected one constant")
    mark_cost = int(cost[0])
    work = gaps[:, 2:] - mark_cost  # CALL -> first mark, ..., last mark -> RETURN
    pieces = work[:, 1:n_markers] if n_markers else np.zeros((n_inputs, 0), dtype=np.int64)
    call = work[:, 0] + work[:, -1] if n_markers else work[:, 0]
    return Counts(mark_cost, work.sum(axis=1), pieces, call)


def group(
    counts: Counts, markers: Sequence[dict[str, Any]], key: str, only_layers: bool = False
) -> dict[str, np.ndarray]:
    """Per-inference counts summed by a marker field ("name": per op, "what": per kernel / glue kind), in
    execution order; (call) included unless only_layers (then only the pieces of layers: conv / linear)."""
    out: dict[str, np.ndarray] = {}
    for i, m in enumerate(markers[:-1]):
        if only_layers and "bits" not in m:
            continue
        out[m[key]] = out.get(m[key], 0) + counts.pieces[:, i]
    if not only_layers:
        out[CALL] = counts.call
    return out


def parse_mark_log(text: str) -> dict[int, list[tuple[int, int]]]:
    """The `bg-mark` lines of a firmware's output: inference -> [(id, reading)] in logged order."""
    log: dict[int, list[tuple[int, int]]] = {}
    for line in text.splitlines():
        m = _LOG_LINE.match(line)
        if m:
            log.setdefault(int(m[1]), []).append((int(m[2]), int(m[3])))
    return log


def log_counts(text: str, markers: Sequence[dict[str, Any]]) -> Counts:
    """Cycles per piece from a DWT log (a board's output), checking the ids against the marker list."""
    log = parse_mark_log(text)
    expected = [MARK_CALIBRATE, MARK_CALIBRATE, MARK_CALL, *(m["id"] for m in markers), MARK_RETURN]
    readings = []
    for inference in sorted(log):
        ids = [i for i, _ in log[inference]]
        if ids != expected:
            raise FirmwareError(f"inference {inference}: mark ids {ids[:8]}... do not follow the marker list")
        readings += [c for _, c in log[inference]]
    return attribute(readings, len(log), len(markers), modulo=2**32)
