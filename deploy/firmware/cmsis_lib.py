"""CMSIS-NN built as a static library per core, with that core's optimised paths, cached on disk.

Only the int8 / int4 sources the cmsis-nn flavour can call are compiled (the folders below, without
float, int16-only, LSTM and SVDF files); the linker's --gc-sections keeps what model.c uses. The
flags of the board select the path (DSP on M4 / M7 / M33, MVE on M55); the build checks that
arm_nn_math_types.h really defines that path's macro, so a flag typo cannot silently fall back to C.
Key of a cached library: board flags, optimisation level, compiler version, hash of the CMSIS-NN sources.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deploy.firmware.boards import Board
from deploy.firmware.cache import cached, digest, files_digest
from deploy.firmware.toolchain import FirmwareError, find_cmsis_nn, find_toolchain, run_tool, tool_version

SOURCE_DIRS = (
    "ConvolutionFunctions",
    "NNSupportFunctions",
    "PoolingFunctions",
    "BasicMathFunctions",
    "TransposeFunctions",
)  # Helium's depthwise wrapper may transpose (arm_transpose_s8)
OPT_LEVELS = ("-O2", "-O3", "-Os")
JOBS = 2  # compiler processes at once (the machines this runs on are small and shared)
_SKIP = re.compile(r"_f16|_f32|_flt|lstm|svdf")
_KEEP = re.compile(r"s8|s4|q7|nntables")
LIBRARY = "libcmsisnn.a"


def cmsis_sources(cmsis: Path) -> list[Path]:
    """The int8 / int4 sources of CMSIS-NN the cmsis-nn flavour may need."""
    return [
        p
        for d in SOURCE_DIRS
        for p in sorted((cmsis / "Source" / d).glob("*.c"))
        if _KEEP.search(p.stem) and not _SKIP.search(p.stem)
    ]


def check_opt(opt: str) -> str:
    if opt not in OPT_LEVELS:
        raise ValueError(f"optimisation level {opt!r}: choose from {', '.join(OPT_LEVELS)}")
    return opt


def _check_path(gcc: str, board: Board, cmsis: Path, work: Path) -> None:
    """Fail unless the board's flags make arm_nn_math_types.h select the board's code path."""
    probe = work / "probe.c"
    lines = ['#include "arm_nn_math_types.h"']
    for macro in ("ARM_MATH_DSP", "ARM_MATH_MVEI"):
        want = macro == board.cmsis_macro or (macro == "ARM_MATH_DSP" and board.cmsis_nn == "mve")
        lines.append(
            f"#if {'!' if want else ''}defined({macro})\n#error {board.name}: {macro} "
            f"{'missing' if want else 'unexpected'}\n#endif"
        )
    probe.write_text("\n".join(lines) + "\n")
    run_tool(
        [gcc, *board.cflags, "-I", cmsis / "Include", "-E", probe, "-o", work / "probe.i"],
        timeout=60,
        what=f"CMSIS-NN path check for {board.name}",
    )


def library_key(board: Board, opt: str, cmsis: Path, gcc: str) -> str:
    sources = files_digest([*cmsis_sources(cmsis), *(cmsis / "Include").rglob("*.h")], cmsis)
    return f"{board.name}{opt}-" + digest([*board.cflags, opt, tool_version(gcc), sources])


def build_cmsis_library(board: Board, opt: str = "-O2", cmsis: Path | None = None, timeout: float = 600) -> Path:
    """The cached libcmsisnn.a for `board` at `opt` (built now if it does not exist: about 10-30 s)."""
    check_opt(opt)
    gcc = find_toolchain().require().gcc
    cmsis = cmsis or find_cmsis_nn()
    if cmsis is None:
        raise FirmwareError("CMSIS-NN sources not found: set CMSIS_NN_PATH or put them in shared/third_party/CMSIS-NN")

    def build(work: Path) -> None:
        start = time.monotonic()
        _check_path(gcc, board, cmsis, work)
        sources = cmsis_sources(cmsis)
        flags = [
            *board.cflags,
            opt,
            "-std=c99",
            "-ffunction-sections",
            "-fdata-sections",
            "-w",
            "-I",
            str(cmsis / "Include"),
        ]

        def compile_one(src: Path) -> Path:
            obj = work / f"{src.stem}.o"
            run_tool([gcc, *flags, "-c", src, "-o", obj], timeout=timeout, what=f"{gcc} {src.name}")
            return obj

        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            objects = list(pool.map(compile_one, sources))
        ar = Path(gcc).with_name(Path(gcc).name.replace("gcc", "ar"))
        run_tool([ar, "rcs", work / LIBRARY, *objects], timeout=timeout)
        for obj in objects:
            obj.unlink()
        info = {
            "board": board.name,
            "cflags": board.cflags,
            "opt": opt,
            "compiler": tool_version(gcc),
            "cmsis_nn": str(cmsis),
            "sources": len(sources),
            "seconds": round(time.monotonic() - start, 2),
        }
        (work / "library.json").write_text(json.dumps(info, indent=1))

    return cached("cmsis-nn", library_key(board, opt, cmsis, gcc), build) / LIBRARY
