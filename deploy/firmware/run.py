"""`run_firmware`: a built firmware on QEMU, with exact instruction counts from the TCG plugin.

QEMU runs the image with semihosting (the harness reads bg_inputs.bin and writes bg_outputs.bin in a
temporary working folder) and plugin/insn_count.c, which records the retired-instruction counter at
every entry of bg_mark. QEMU has no cycle model: the numbers are instructions, not cycles (multiply by
a core's cycles per instruction, or import a board's DWT log, for time). A firmware that faults exits
through semihosting with BG_EXIT_FAULT and is reported as FirmwareError, as is a run past its timeout.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from deploy.firmware.attribution import Counts, attribute, group, parse_mark_log
from deploy.firmware.build import Firmware
from deploy.firmware.plugin import build_plugin
from deploy.firmware.toolchain import FirmwareError, find_toolchain

BASE_TIMEOUT = 60.0  # seconds of QEMU start-up and I/O
TIMEOUT_PER_INPUT = 20.0
_SUMMARY = re.compile(r"^bg-run inputs (\d+) stack_bytes (\d+)\s*$", re.M)


@cache
def exit_codes() -> dict[int, str]:
    """Exit status -> name, from c/bg_firmware.h (one source of truth for C and Python)."""
    text = resources.files(__package__).joinpath("c", "bg_firmware.h").read_text()
    return {int(v): k for k, v in re.findall(r"#define BG_EXIT_(\w+) (\d+)", text)}


@dataclass(frozen=True)
class Measurement:
    board: str
    outputs: np.ndarray  # (N, outputs) int8, in the order bg_infer writes (model.json's class_order)
    counts: Counts  # instructions: per inference, per marked piece, bg_infer's own
    markers: tuple[dict[str, Any], ...]  # the marker list (empty for a build without profile)
    stack_bytes: int  # deepest stack bg_infer used (painted and scanned around every call)
    flash_model_bytes: int  # the model's const arrays in the image (weights, metadata, other constants)
    flash_weight_bytes: int
    flash_metadata_bytes: int
    static_ram_bytes: int  # arena + kernel scratch + group scratch in the image
    cycle_log: dict[int, list[tuple[int, int]]]  # DWT readings per inference (0 on QEMU)
    seconds: float  # QEMU wall time

    @property
    def instructions(self) -> np.ndarray:
        """(N,) instructions of each inference (bg_infer, marks removed)."""
        return self.counts.total

    @property
    def per_marker(self) -> np.ndarray:
        """(N, pieces): instructions of each marked piece (markers[i] describes column i)."""
        return self.counts.pieces

    def per_op(self) -> dict[str, np.ndarray]:
        """Instructions per op name (its kernel calls and glue) and (call), in execution order, per inference."""
        return group(self.counts, self.markers, "name")

    def per_layer(self) -> dict[str, np.ndarray]:
        """Instructions per conv / linear layer (its precision groups' calls and copies), per inference."""
        return group(self.counts, self.markers, "name", only_layers=True)

    def per_kernel(self) -> dict[str, np.ndarray]:
        """Instructions per CMSIS-NN function or glue kind (arm_convolve_s4, requant, scatter, ...)."""
        return group(self.counts, self.markers, "what")


def _failure(status: int, stdout: str, stderr: str) -> FirmwareError:
    name = exit_codes().get(status, "")
    lines = [ln for ln in (stdout + stderr).splitlines() if ln.startswith(("bitgate firmware:", "qemu"))]
    detail = lines[-1] if lines else "\n".join((stdout + stderr).strip().splitlines()[-5:])
    what = {"FAULT": "crashed", "INFER": "bg_infer failed", "IO": "semihosting I/O failed"}.get(name, "failed")
    return FirmwareError(f"firmware {what} (exit status {status}{' ' + name if name else ''}): {detail}")


def run_firmware(fw: Firmware, inputs: np.ndarray, timeout: float | None = None) -> Measurement:
    """bg_infer on every int8 input row (N, ...) under QEMU; outputs, instruction counts, stack."""
    x = np.asarray(inputs)
    if x.dtype != np.int8:
        raise TypeError(f"firmware inputs are int8 (as bg_infer takes them), got {x.dtype}")
    x = np.ascontiguousarray(x.reshape(len(x), -1))
    if x.shape[1] != fw.input_size or len(x) == 0:
        raise ValueError(f"inputs of {x.shape[1]} bytes (N = {len(x)}); the export takes {fw.input_size} bytes")
    qemu = find_toolchain().require().qemu
    plugin = build_plugin()
    limit = timeout if timeout is not None else BASE_TIMEOUT + TIMEOUT_PER_INPUT * len(x)
    with tempfile.TemporaryDirectory(prefix="run-", dir=fw.elf.parent) as tmp:
        work = Path(tmp)
        x.tofile(work / "bg_inputs.bin")
        cmd = [
            qemu,
            "-M",
            fw.board.machine,
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
            str(fw.elf),
            "-plugin",
            f"{plugin},mark=0x{fw.mark_address:x},out=bg_counts.txt",
        ]
        start = time.monotonic()
        try:
            done = subprocess.run(
                cmd, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=limit
            )
        except subprocess.TimeoutExpired as e:
            raise FirmwareError(f"firmware did not finish within {limit:g} s on {fw.board.machine} (a hang?)") from e
        seconds = time.monotonic() - start
        if done.returncode != 0:
            raise _failure(done.returncode, done.stdout, done.stderr)
        summary = _SUMMARY.search(done.stdout)
        if not summary or int(summary[1]) != len(x):
            raise FirmwareError(f"firmware ran {summary[1] if summary else 'no'} of {len(x)} inputs")
        outputs = np.fromfile(work / "bg_outputs.bin", dtype=np.int8).reshape(len(x), fw.output_size)
        readings = [
            int(line)
            for line in (work / "bg_counts.txt").read_text().split("\n")
            if line and not line.startswith("total")
        ]
    counts = attribute(readings, len(x), len(fw.markers))
    return Measurement(
        board=fw.board.name,
        outputs=outputs,
        counts=counts,
        markers=fw.markers,
        stack_bytes=int(summary[2]),
        flash_model_bytes=fw.memory.flash_model_bytes,
        flash_weight_bytes=fw.flash_bytes("weights"),
        flash_metadata_bytes=fw.flash_bytes("metadata"),
        static_ram_bytes=fw.memory.static_ram_bytes,
        cycle_log=parse_mark_log(done.stdout),
        seconds=seconds,
    )
