"""The emulated Cortex-M boards, as data (boards.toml): QEMU machine, compiler flags, memory regions.

A board is what one firmware image is built for: `get_board("m4")` gives the flags that select
CMSIS-NN's optimised paths on that core and the regions its linker script uses. Adding a board is a
table in boards.toml (a QEMU machine with semihosting and a gcc -mcpu for its core).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

CMSIS_PATHS = {"c": None, "dsp": "ARM_MATH_DSP", "mve": "ARM_MATH_MVEI"}  # path -> macro CMSIS-NN defines


@dataclass(frozen=True)
class Region:
    origin: int
    length: int
    memory: str  # the board's name for it

    def __str__(self) -> str:
        return f"{self.memory} 0x{self.origin:08x}+0x{self.length:x}"


@dataclass(frozen=True)
class Board:
    name: str  # "m4"
    core: str  # "Cortex-M4"
    machine: str  # qemu-system-arm -M
    cpu: str  # gcc -mcpu
    fpu: str  # gcc -mfpu ("" for none)
    float_abi: str  # gcc -mfloat-abi
    cmsis_nn: str  # "c", "dsp" or "mve": the CMSIS-NN code path the flags select
    dwt: bool  # a DWT cycle counter (CYCCNT) exists
    code: Region  # vector table and .text
    ram: Region  # .data, .bss, heap, stack
    rodata: Region | None = None  # const data (weights) when not in `code`
    optional: bool = False  # not among the cores every test runs

    @property
    def cflags(self) -> tuple[str, ...]:
        """gcc flags for this core (every object of the image and the CMSIS-NN library)."""
        fpu = (f"-mfpu={self.fpu}",) if self.fpu else ()
        return (f"-mcpu={self.cpu}", "-mthumb", *fpu, f"-mfloat-abi={self.float_abi}")

    @property
    def cmsis_macro(self) -> str | None:
        """The macro arm_nn_math_types.h must define for this board's path (None: plain C)."""
        return CMSIS_PATHS[self.cmsis_nn]


def _region(spec: dict) -> Region:
    return Region(int(spec["origin"]), int(spec["length"]), str(spec.get("memory", "")))


@cache
def boards() -> dict[str, Board]:
    """Every board of boards.toml, by name."""
    data = tomllib.loads(resources.files(__package__).joinpath("boards.toml").read_text())
    out = {}
    for name, b in data.items():
        if b["cmsis_nn"] not in CMSIS_PATHS:
            raise ValueError(f"boards.toml [{name}]: cmsis_nn must be one of {sorted(CMSIS_PATHS)}")
        out[name] = Board(
            name=name,
            core=b["core"],
            machine=b["machine"],
            cpu=b["cpu"],
            fpu=b["fpu"],
            float_abi=b["float_abi"],
            cmsis_nn=b["cmsis_nn"],
            dwt=bool(b["dwt"]),
            code=_region(b["code"]),
            ram=_region(b["ram"]),
            rodata=_region(b["rodata"]) if "rodata" in b else None,
            optional=bool(b.get("optional", False)),
        )
    return out


def get_board(name: str) -> Board:
    """The board called `name` (m3, m4, m7, m33, m55)."""
    known = boards()
    if name not in known:
        raise ValueError(f"unknown board {name!r}; choose from {', '.join(known)}")
    return known[name]
