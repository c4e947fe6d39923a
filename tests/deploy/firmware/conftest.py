"""Fixtures of the firmware tests: the toolchain check, CMSIS-NN built once per session for every core
(cached on disk: BITGATE_CACHE_DIR or the user cache), cmsis-nn exports of random mixed architectures
(pruned channels, 2/4/8-bit weights, 2-bit in s4 fields) with int8 inputs, the cmsis_interpreter's outputs
and PyTorch's logits, and each (model, core) built and run once per session (`measured`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from export_helpers import CortexMExport

from deploy import cmsis_interpreter, interpreter
from deploy.firmware import Measurement, build_firmware, find_cmsis_nn, find_toolchain, run_firmware
from deploy.firmware.boards import get_board
from deploy.firmware.build import Firmware
from deploy.firmware.cmsis_lib import build_cmsis_library
from supernet import Architecture, Supernet

CORES = ("m4", "m7", "m33", "m55")  # every emulated core the default tests run (m3 runs under -m slow)
TOOLS = find_toolchain()
CMSIS = find_cmsis_nn()
MISSING = TOOLS.problem or (
    None
    if CMSIS
    else "CMSIS-NN sources not found: set CMSIS_NN_PATH or put them in shared/third_party/CMSIS-NN next to the project"
)
needs_firmware = pytest.mark.skipif(MISSING is not None, reason=f"firmware tests skip: {MISSING}")


@dataclass(frozen=True)
class ModelCase:
    inputs: int  # inputs run on the emulator
    cores: tuple[str, ...]  # cores in the default suite; the others run under -m slow


# export_helpers.CORTEX_M_MODELS, exported once per session for these tests and tests/deploy/test_deploy_c.py
MODELS = {
    "digits_cnn": ModelCase(6, CORES),
    "resnet8": ModelCase(2, CORES),
    "dscnn": ModelCase(3, CORES),
    "mobilenet_v2": ModelCase(3, ("m55",)),
}


@dataclass
class FirmwareExport:
    name: str
    out_dir: Path
    manifest: dict
    arrays: dict
    x: np.ndarray  # int8 NHWC inputs as bg_infer takes them
    expected: np.ndarray  # cmsis_interpreter's outputs, in bg_infer's order
    net: Supernet | None = None
    arch: Architecture | None = None
    pool: torch.Tensor | None = None  # float inputs; x are the first len(x) of them
    torch_logits: np.ndarray | None = None  # on x: the fake-quantized network computing the flavour's arithmetic


@pytest.fixture(scope="session")
def cmsis_libraries() -> dict[str, Path]:
    """CMSIS-NN for every core at -O2, built once (about 5-10 s per core; instant from the cache)."""
    if MISSING:
        pytest.skip(f"firmware tests skip: {MISSING}")
    start = time.monotonic()
    libs = {core: build_cmsis_library(get_board(core), "-O2", CMSIS) for core in CORES}
    print(f"\nCMSIS-NN libraries for {', '.join(CORES)}: {time.monotonic() - start:.1f} s")
    return libs


def firmware_export(e: CortexMExport) -> FirmwareExport:
    """The cmsis-nn export of a shared Cortex-M export (tests/deploy/conftest.py: the host C tests' own),
    with its first inputs as bg_infer takes them, the interpreter's outputs and PyTorch's logits."""
    manifest, arrays = interpreter.load(e.reports["cmsis-nn"].out_dir)
    x = cmsis_interpreter.quantize_input(manifest, e.pool[: MODELS[e.name].inputs].numpy())
    expected = cmsis_interpreter.run(manifest, arrays, x, deployed_order=True)
    with torch.no_grad():
        logits = e.flavour_net(e.pool[: len(x)]).double().numpy()
    return FirmwareExport(
        e.name, e.reports["cmsis-nn"].out_dir, manifest, arrays, x, expected, e.net, e.arch, e.pool, logits
    )


@pytest.fixture(scope="session")
def exports(cortex_m) -> Callable[[str], FirmwareExport]:
    """exports(name): the model's firmware export, made once per session."""
    made: dict[str, FirmwareExport] = {}

    def get(name: str) -> FirmwareExport:
        if name not in made:
            made[name] = firmware_export(cortex_m(name))
        return made[name]

    return get


@pytest.fixture(scope="session", params=list(MODELS))
def model_export(request, exports) -> FirmwareExport:
    if MISSING:
        pytest.skip(f"firmware tests skip: {MISSING}")
    return exports(request.param)


def _pairs() -> list:
    """(model, core) for every model and core; those outside the model's default cores marked slow."""
    return [
        pytest.param((m, c), id=f"{m}-{c}", marks=() if c in case.cores else pytest.mark.slow)
        for m, case in MODELS.items()
        for c in CORES
    ]


@pytest.fixture(scope="session", params=_pairs())
def measured(request, exports, cmsis_libraries) -> tuple[FirmwareExport, Firmware, Measurement]:
    """One export built for one core (-O2, profiling marks) and run on its inputs, once per session."""
    name, core = request.param
    export_ = exports(name)
    fw = build_firmware(export_.out_dir, core, "-O2", profile=True)
    return export_, fw, run_firmware(fw, export_.x)
