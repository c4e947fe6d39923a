"""Build and run the generated C on the host: CMSIS-NN's plain-C sources as a static library,
a tiny driver that feeds bg_infer one input after another, and a runner returning its outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from deploy.firmware.cmsis_lib import cmsis_sources
from deploy.firmware.toolchain import find_cmsis_nn
from targets.target import Target

STRICT = ("-Wall", "-Wextra", "-Werror")  # every generated model.c must build without a warning
DRIVER = r"""
#include <stdio.h>
#include "model.h"
int main(int argc, char **argv)
{
  static int8_t in[BG_INPUT_SIZE];
  int8_t out[BG_OUTPUT_SIZE];
  FILE *fi = fopen(argv[1], "rb"), *fo = fopen(argv[2], "wb");
  if (argc != 3 || !fi || !fo) return 2;
  while (fread(in, 1, BG_INPUT_SIZE, fi) == BG_INPUT_SIZE) {
    int rc = bg_infer(in, out);
    if (rc != 0) { fprintf(stderr, "bg_infer returned %d\n", rc); return 1; }
    fwrite(out, 1, BG_OUTPUT_SIZE, fo);
  }
  fclose(fi);
  fclose(fo);
  return 0;
}
"""


def compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc"))


def build_cmsis_library(cmsis: Path, out_dir: Path) -> Path:
    """libcmsisnn.a from the plain-C (no DSP / MVE) int8 / int4 sources, compiled once."""
    cc = compiler()
    sources = cmsis_sources(cmsis)  # the int8 / int4 kernels the cmsis-nn flavour calls (as the firmware's)

    def compile_one(src: Path) -> Path:
        obj = out_dir / f"{src.stem}.o"
        subprocess.run(
            [cc, "-std=c99", "-O1", "-w", "-I", str(cmsis / "Include"), "-c", str(src), "-o", str(obj)],
            check=True,
            capture_output=True,
        )
        return obj

    with ThreadPoolExecutor(max_workers=2) as pool:
        objects = list(pool.map(compile_one, sources))
    lib = out_dir / "libcmsisnn.a"
    subprocess.run(["ar", "rcs", str(lib), *map(str, objects)], check=True, capture_output=True)
    return lib


def build_model(export_dir: Path, cmsis: Path | None = None, lib: Path | None = None) -> Path:
    """Compile export_dir/model.c with the driver (and CMSIS-NN for the cmsis-nn flavour); STRICT on model.c."""
    cc = compiler()
    (export_dir / "driver.c").write_text(DRIVER)
    inc = ["-I", str(export_dir)] + (["-isystem", str(cmsis / "Include")] if cmsis else [])
    obj = export_dir / "model.o"
    done = subprocess.run(
        [cc, "-std=c99", "-O2", *STRICT, *inc, "-c", str(export_dir / "model.c"), "-o", str(obj)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    exe = export_dir / "bg_run"
    link = [cc, "-O2", *inc, str(export_dir / "driver.c"), str(obj), *([str(lib)] if lib else []), "-o", str(exe)]
    done = subprocess.run(link, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return exe


def run_model(exe: Path, inputs: np.ndarray) -> np.ndarray:
    """bg_infer on every int8 input (rows of `inputs`); (N, outputs) int8."""
    work = exe.parent
    inputs = np.ascontiguousarray(inputs, dtype=np.int8)
    inputs.tofile(work / "inputs.bin")
    done = subprocess.run(
        [str(exe), str(work / "inputs.bin"), str(work / "outputs.bin")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return np.fromfile(work / "outputs.bin", dtype=np.int8).reshape(len(inputs), -1)


CMSIS = find_cmsis_nn()
needs_cc = pytest.mark.skipif(compiler() is None, reason="no host C compiler (cc) on PATH")
needs_cmsis = pytest.mark.skipif(
    CMSIS is None,
    reason="CMSIS-NN sources not found: set CMSIS_NN_PATH or put them "
    "in shared/third_party/CMSIS-NN next to the project",
)
# a Cortex-M target that offers 2-bit weights stored in 4-bit fields (CMSIS-NN has no 2-bit kernels)
CORTEX_M_2IN4 = Target(
    "cortex-m-2in4",
    "test: CMSIS-NN with 2-bit weights in s4 fields",
    2**21,
    2**20,
    10**8,
    (0, 2, 4, 8),
    (8,),
    ("size",),
    storage_bits={2: 4},
)
