"""Memory of a firmware image, read from its ELF symbol table (what the Flash and RAM really hold).

The model's symbols are those model.o defines: its read-only data objects (weights, per-channel
metadata, and any static const array inside bg_infer) are the model's Flash; its static RAM objects
(the activation arena, the kernel scratch, the precision-group scratch) its static RAM. Their sizes
are read from the linked image, so an array the linker dropped counts 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy.firmware.toolchain import run_tool

CONST_TYPES = frozenset("rR")
RAM_TYPES = frozenset("bBdD")


@dataclass(frozen=True)
class Symbol:
    name: str
    type: str  # nm's letter
    size: int
    address: int


@dataclass(frozen=True)
class MemoryUse:
    model_const: dict[str, int]  # symbol -> bytes: model.o's read-only data in the image
    model_ram: dict[str, int]  # symbol -> bytes: model.o's static RAM in the image
    sections: dict[str, int]  # the image's sections (.text, .rodata, .data, .bss, ...) -> bytes

    @property
    def flash_model_bytes(self) -> int:
        return sum(self.model_const.values())

    @property
    def static_ram_bytes(self) -> int:
        return sum(self.model_ram.values())


def symbols(nm: str, path: Path) -> list[Symbol]:
    """Defined symbols with a size (nm --print-size)."""
    out = run_tool([nm, "--print-size", "--defined-only", path], timeout=60).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            found.append(Symbol(parts[3], parts[2], int(parts[1], 16), int(parts[0], 16)))
    return found


def address_of(nm: str, elf: Path, name: str) -> int:
    """Address of a function (without the Thumb bit), as the CPU fetches it."""
    for s in symbols(nm, elf):
        if s.name == name and s.type in "tT":
            return s.address & ~1
    raise KeyError(f"{name} not in {elf}")


def sections(size_tool: str, elf: Path) -> dict[str, int]:
    out = run_tool([size_tool, "-A", elf], timeout=60).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
    return found


def model_memory(nm: str, size_tool: str, model_obj: Path, elf: Path) -> MemoryUse:
    """The model's Flash and static RAM symbols (membership and kind from model.o, sizes from the image)."""
    own = {s.name: s.type in CONST_TYPES for s in symbols(nm, model_obj) if s.type in CONST_TYPES | RAM_TYPES}
    const: dict[str, int] = {}
    ram: dict[str, int] = {}
    for s in symbols(nm, elf):
        if s.name in own and s.type in CONST_TYPES | RAM_TYPES:
            table = const if own[s.name] else ram
            if s.name in table:
                raise ValueError(f"{elf}: two data symbols named {s.name}")
            table[s.name] = s.size
    return MemoryUse(const, ram, sections(size_tool, elf))
