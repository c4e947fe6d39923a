"""Fixtures of the firmware tests: the toolchain check, CMSIS-NN built once per session for every core
(cached on disk: BITGATE_CACHE_DIR or the user cache), and cmsis-nn exports of random mixed architectures
(pruned channels, 2/4/8-bit weights) with int8 inputs and the cmsis_interpreter's outputs."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from c_build import CORTEX_M_2IN4
from export_helpers import set_random_arch, varied_images

from deploy import cmsis_interpreter, export, interpreter
from deploy.firmware import find_cmsis_nn, find_toolchain
from deploy.firmware.boards import get_board
from deploy.firmware.cmsis_lib import build_cmsis_library
from search.models import create_model
from supernet import materialize, to_supernet

CORES = ("m4", "m7", "m33", "m55")  # every emulated core the default tests run (m3 runs under -m slow)
TOOLS = find_toolchain()
CMSIS = find_cmsis_nn()
MISSING = TOOLS.problem or (None if CMSIS else "CMSIS-NN sources not found: set CMSIS_NN_PATH or put them in "
                            "shared/third_party/CMSIS-NN next to the project")  # fmt: skip
needs_firmware = pytest.mark.skipif(MISSING is not None, reason=f"firmware tests skip: {MISSING}")
# model: (input shape, calibration pool size, inputs run on the emulator, architecture seed)
MODELS = {"digits_cnn": ((1, 8, 8), 256, 6, 1), "resnet8": ((3, 32, 32), 256, 2, 1)}


@dataclass
class FirmwareExport:
    name: str
    out_dir: Path
    manifest: dict
    arrays: dict
    x: np.ndarray  # int8 NHWC inputs as bg_infer takes them
    expected: np.ndarray  # cmsis_interpreter's outputs, in bg_infer's order


@pytest.fixture(scope="session")
def cmsis_libraries() -> dict[str, Path]:
    """CMSIS-NN for every core at -O2, built once (about 5-10 s per core; instant from the cache)."""
    if MISSING:
        pytest.skip(f"firmware tests skip: {MISSING}")
    start = time.monotonic()
    libs = {core: build_cmsis_library(get_board(core), "-O2", CMSIS) for core in CORES}
    print(f"\nCMSIS-NN libraries for {', '.join(CORES)}: {time.monotonic() - start:.1f} s")
    return libs


def export_model(name: str, out: Path, bits: tuple[int, ...] = (0, 2, 4, 8)) -> FirmwareExport:
    shape, pool_size, n_inputs, seed = MODELS[name]
    torch.manual_seed(0)
    pool = varied_images(pool_size, shape, torch.Generator().manual_seed(0))
    net = to_supernet(create_model(name, 10, shape), pool, bits=bits)
    arch = set_random_arch(net, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # requantization notes do not matter to the firmware
        export(materialize(net, arch).eval(), pool, out, formats="c", target=CORTEX_M_2IN4, arch=arch,
               flavour="cmsis-nn")  # fmt: skip
    manifest, arrays = interpreter.load(out)
    x = cmsis_interpreter.quantize_input(manifest, pool[:n_inputs].numpy())
    expected = cmsis_interpreter.run(manifest, arrays, x, deployed_order=True)
    return FirmwareExport(name, out, manifest, arrays, x, expected)


@pytest.fixture(scope="session", params=list(MODELS))
def model_export(request, tmp_path_factory) -> FirmwareExport:
    if MISSING:
        pytest.skip(f"firmware tests skip: {MISSING}")
    return export_model(request.param, tmp_path_factory.mktemp(f"fw-{request.param}"))
