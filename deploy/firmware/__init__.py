"""Firmware for emulated Cortex-M cores: a cmsis-nn export built bare-metal, run on QEMU, measured.

    from deploy.firmware import build_firmware, run_firmware
    fw = build_firmware("out/", "m4")                 # -O2, with a mark around every kernel call
    m = run_firmware(fw, x_int8)                      # x as bg_infer takes it (cmsis_interpreter.quantize_input)
    m.outputs, m.instructions, m.per_op(), m.stack_bytes, m.flash_model_bytes, m.static_ram_bytes

Boards (boards.toml): m3 (mps2-an385), m4 (mps2-an386), m7 (mps2-an500), m33 (mps2-an505), m55
(mps3-an547, Helium). Needs arm-none-eabi-gcc with newlib, qemu-system-arm and CMSIS-NN's sources;
`find_toolchain().problem` says in one line what is missing. Counts are retired instructions
(QEMU has no cycle model); docs/deploying.md, "Firmware on emulated cores".
"""

from deploy.firmware.attribution import Counts, log_counts, parse_mark_log
from deploy.firmware.boards import Board, boards, get_board
from deploy.firmware.build import Firmware, build_firmware
from deploy.firmware.run import Measurement, run_firmware
from deploy.firmware.toolchain import DEBIAN_PACKAGES, FirmwareError, Toolchain, find_cmsis_nn, find_toolchain

__all__ = [
    "DEBIAN_PACKAGES",
    "Board",
    "Counts",
    "Firmware",
    "FirmwareError",
    "Measurement",
    "Toolchain",
    "boards",
    "build_firmware",
    "find_cmsis_nn",
    "find_toolchain",
    "get_board",
    "log_counts",
    "parse_mark_log",
    "run_firmware",
]
