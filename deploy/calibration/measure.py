"""Run the calibration grid: export each grid network once (cmsis-nn), then build and run it on every core.

Every run is checked bit for bit against deploy.cmsis_interpreter (a kernel path that computed something
else would be a deployment bug, not a sample), and its marked pieces become samples (samples.py).
Instruction counts do not depend on the input values except in a few data-dependent branches (the DSP
add), so one input per network is enough.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deploy.api import export
from deploy.calibration.grid import GridNet, random_arch
from deploy.calibration.samples import Sample, samples_of
from deploy.firmware import FirmwareError, build_firmware, get_board, run_firmware
from supernet import materialize, to_supernet

CALIBRATION_BATCH = 8


@dataclass(frozen=True)
class Exported:
    net: GridNet
    out_dir: Path
    manifest: dict[str, Any]
    x: np.ndarray  # one int8 input, as bg_infer takes it
    expected: np.ndarray  # cmsis_interpreter's output for it


def export_grid_net(g: GridNet, out_dir: Path) -> Exported:
    """Export grid network `g` with its random architecture (cmsis-nn, C only) into out_dir."""
    from deploy import cmsis_interpreter, interpreter

    model = g.build().eval()
    gen = torch.Generator().manual_seed(g.arch_seed)
    pool = torch.randn(CALIBRATION_BATCH, *g.in_shape, generator=gen)
    net = to_supernet(model, pool, bits=(0, 4, 8))
    arch = random_arch(net, g.arch_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # requantization notes do not matter to the instruction counts
        export(materialize(net, arch).eval(), pool, out_dir, formats="c", arch=arch, flavour="cmsis-nn")
    manifest, arrays = interpreter.load(out_dir)
    x = cmsis_interpreter.quantize_input(manifest, pool[:1].numpy())
    return Exported(g, out_dir, manifest, x, cmsis_interpreter.run(manifest, arrays, x, deployed_order=True))


def measure_one(e: Exported, core: str, opt: str = "-O2") -> list[Sample]:
    """The samples of one exported grid network on one core (FirmwareError if its outputs differ)."""
    fw = build_firmware(e.out_dir, core, opt=opt, profile=True)
    m = run_firmware(fw, e.x)
    if not np.array_equal(m.outputs, e.expected):
        raise FirmwareError(f"{e.net.name} on {core}: the firmware's outputs differ from cmsis_interpreter's")
    path = get_board(core).cmsis_nn
    if path not in ("dsp", "mve"):
        raise FirmwareError(f"board {core!r} runs CMSIS-NN's plain C path: calibrate DSP or Helium cores")
    return samples_of(e.manifest, list(fw.markers), m.per_marker[0], int(m.counts.call[0]), path, e.net.name)


def measure_grid(
    nets: Sequence[GridNet], cores: Sequence[str], work: Path, opt: str = "-O2", log: Callable[[str], None] = print
) -> dict[str, list[Sample]]:
    """Samples per core of every grid network (exported once, run on every core)."""
    work.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[Sample]] = {core: [] for core in cores}
    for i, g in enumerate(nets):
        out = work / g.name
        e = export_grid_net(g, out)
        for core in cores:
            samples[core] += measure_one(e, core, opt)
        shutil.rmtree(out, ignore_errors=True)  # the firmware images are large and not needed again
        if (i + 1) % 10 == 0 or i + 1 == len(nets):
            log(f"calibration grid: {i + 1}/{len(nets)} networks, {len(samples[cores[0]])} calls per core")
    return samples
