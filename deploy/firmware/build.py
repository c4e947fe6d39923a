"""`build_firmware`: one cmsis-nn export as a bare-metal image for an emulated Cortex-M board.

The image: start-up (c/startup.c), the harness (c/harness.c: inputs from a host file through
semihosting, bg_infer on each, outputs to a host file), the marker hook (c/marker.c), model.c of the
export (built with -Wall -Wextra -Werror; with -DBG_PROFILE its BG_MARKs call the hook), CMSIS-NN
built for the core (cmsis_lib.py), newlib with rdimon semihosting, and a linker script from the
board's regions (c/link.ld.in). It is written to <export>/firmware/<board><opt>[-profile]/.
"""

from __future__ import annotations

import json
import string
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from deploy.firmware.boards import Board, get_board
from deploy.firmware.cmsis_lib import JOBS, build_cmsis_library, check_opt
from deploy.firmware.elf import MemoryUse, address_of, model_memory
from deploy.firmware.toolchain import FirmwareError, find_cmsis_nn, find_toolchain, run_tool

STACK_BYTES = 32 * 1024  # the harness paints and scans this much for bg_infer's high-water mark
HEAP_BYTES = 16 * 1024  # newlib's stdio buffers (malloc through _sbrk)
FIRMWARE_SOURCES = ("startup.c", "harness.c", "marker.c")
WARNINGS = ("-Wall", "-Wextra", "-Werror")
MARK_FUNCTION = "bg_mark"
OUTPUTS = ("link.ld", "startup.o", "harness.o", "marker.o", "model.o", "firmware.elf", "firmware.map")


@dataclass(frozen=True)
class Firmware:
    elf: Path
    board: Board
    opt: str
    profile: bool  # model.c built with -DBG_PROFILE: a mark before every piece
    export_dir: Path
    input_size: int  # bytes of one int8 input (bg_infer's)
    output_size: int
    mark_address: int  # entry of bg_mark, where the QEMU plugin records its counter
    markers: tuple[dict[str, Any], ...]  # model.json's "markers" when profile, else ()
    memory: MemoryUse
    arrays: dict[str, dict[str, Any]] = field(repr=False)  # model.json's "arrays"
    build_seconds: float = 0.0

    def flash_bytes(self, kind: str) -> int:
        """Bytes in the image of the manifest's arrays of one kind ("weights"; "metadata": every other)."""
        return sum(
            self.memory.model_const.get(f"bg_{name}", 0)
            for name, spec in self.arrays.items()
            if (spec["kind"] == "weights") == (kind == "weights")
        )


def _firmware_dir() -> Path:
    return Path(str(resources.files(__package__).joinpath("c")))


def _hex(n: int) -> str:
    return f"0x{n:08x}"


def linker_script(board: Board) -> str:
    """The linker script of `board` (c/link.ld.in with its regions)."""
    template = string.Template((_firmware_dir() / "link.ld.in").read_text())
    ro = board.rodata
    return template.substitute(
        board=board.name,
        machine=board.machine,
        code_origin=_hex(board.code.origin),
        code_length=_hex(board.code.length),
        ram_origin=_hex(board.ram.origin),
        ram_length=_hex(board.ram.length),
        rodata_region=f"  RODATA (r) : ORIGIN = {_hex(ro.origin)}, LENGTH = {_hex(ro.length)}\n" if ro else "",
        rodata_alias="" if ro else 'REGION_ALIAS("RODATA", CODE);\n',
        stack_bytes=_hex(STACK_BYTES),
        heap_bytes=_hex(HEAP_BYTES),
    )


def _manifest(export_dir: Path) -> dict[str, Any]:
    path = export_dir / "model.json"
    if not path.exists() or not (export_dir / "model.c").exists():
        raise FirmwareError(f"{export_dir} holds no C export (model.json + model.c): export with formats='c'")
    manifest = json.loads(path.read_text())
    if manifest.get("flavour") != "cmsis-nn":
        raise FirmwareError(f"{export_dir}: the firmware runs the cmsis-nn flavour, not {manifest.get('flavour')!r}")
    if "markers" not in manifest:
        raise FirmwareError(f"{export_dir}: model.json has no marker list (exported by an older bitgate: export again)")
    return manifest


def build_firmware(
    export_dir: str | Path,
    core: str,
    opt: str = "-O2",
    profile: bool = True,
    out_dir: str | Path | None = None,
    timeout: float = 600,
) -> Firmware:
    """Build the firmware of a cmsis-nn export for board `core` (m3, m4, m7, m33, m55) at `opt` (-O2, -O3,
    -Os; CMSIS-NN and model.c alike). profile=True marks every kernel call and glue loop; False builds
    the production model.c (only the harness's marks around bg_infer: exact totals, no breakdown)."""
    export_dir = Path(export_dir)
    manifest = _manifest(export_dir)
    board, opt = get_board(core), check_opt(opt)
    tools = find_toolchain().require()
    cmsis = find_cmsis_nn()
    if cmsis is None:
        raise FirmwareError("CMSIS-NN sources not found: set CMSIS_NN_PATH or put them in shared/third_party/CMSIS-NN")
    start = time.monotonic()
    library = build_cmsis_library(board, opt, cmsis, timeout)
    out = Path(out_dir) if out_dir else export_dir / "firmware" / f"{board.name}{opt}{'-profile' if profile else ''}"
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:  # only what this build writes: out_dir may be the caller's folder
        (out / name).unlink(missing_ok=True)
    (out / "link.ld").write_text(linker_script(board))
    src = _firmware_dir()
    common = [*board.cflags, opt, "-std=c99", "-g", "-ffunction-sections", "-fdata-sections", *WARNINGS]
    jobs = [
        ([*common, f"-DBG_HAS_DWT={int(board.dwt)}", "-I", src, "-I", export_dir], src / name)
        for name in FIRMWARE_SOURCES
    ]
    model_flags = [*common, *(["-DBG_PROFILE"] if profile else []), "-I", export_dir, "-isystem", cmsis / "Include"]
    jobs.append((model_flags, export_dir / "model.c"))

    def compile_one(job: tuple[list, Path]) -> Path:
        flags, source = job
        obj = out / f"{source.stem}.o"
        run_tool([tools.gcc, *flags, "-c", source, "-o", obj], timeout=timeout, what=f"arm-none-eabi-gcc {source.name}")
        return obj

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        objects = list(pool.map(compile_one, jobs))
    elf = out / "firmware.elf"
    run_tool(
        [
            tools.gcc,
            *board.cflags,
            opt,
            "--specs=rdimon.specs",
            "-nostartfiles",
            "-T",
            out / "link.ld",
            "-Wl,--gc-sections",
            f"-Wl,-Map={out / 'firmware.map'}",
            *objects,
            library,
            "-o",
            elf,
        ],
        timeout=timeout,
        what="arm-none-eabi-gcc (link)",
    )
    inp, outp = manifest["input"], manifest["tensors"][manifest["output"]["id"]]
    return Firmware(
        elf=elf,
        board=board,
        opt=opt,
        profile=profile,
        export_dir=export_dir,
        input_size=int(np.prod(inp["shape"])),
        output_size=int(np.prod(outp["shape"])),
        mark_address=address_of(tools.nm, elf, MARK_FUNCTION),
        markers=tuple(manifest["markers"]) if profile else (),
        memory=model_memory(tools.nm, tools.size, out / "model.o", elf),
        arrays=manifest["arrays"],
        build_seconds=time.monotonic() - start,
    )
