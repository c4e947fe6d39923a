"""Where the tools live: the Arm cross compiler with newlib, QEMU, a host C compiler, CMSIS-NN's sources.

`find_toolchain()` never raises: a CLI prints `toolchain.problem` (one line naming the Debian
packages to install) and exits 2. `run_tool` runs every subprocess of the firmware with a timeout
and turns failures into FirmwareError with the tool's last output lines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEBIAN_PACKAGES = ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class FirmwareError(RuntimeError):
    """A firmware build or run failed (compiler error, crash, timeout, missing tool)."""


@dataclass(frozen=True)
class Toolchain:
    gcc: str | None  # arm-none-eabi-gcc
    nm: str | None  # arm-none-eabi-nm
    size: str | None  # arm-none-eabi-size
    newlib: bool  # newlib's rdimon (semihosting) library for the cross compiler
    qemu: str | None  # qemu-system-arm
    host_cc: str | None  # builds the QEMU plugin

    @property
    def problem(self) -> str | None:
        """What is missing, in one line with the packages that provide it (None: nothing)."""
        missing, packages = [], []
        for tool, found, package in (
            ("arm-none-eabi-gcc", self.gcc and self.nm and self.size, DEBIAN_PACKAGES[0]),
            ("newlib (rdimon)", self.newlib, DEBIAN_PACKAGES[1]),
            ("qemu-system-arm", self.qemu, DEBIAN_PACKAGES[2]),
            ("a host C compiler (cc)", self.host_cc, "gcc"),
        ):
            if not found:
                missing.append(tool)
                packages.append(package)
        if not missing:
            return None
        return (
            f"missing {', '.join(missing)}: install with `apt-get install {' '.join(dict.fromkeys(packages))}` "
            "(Debian / Ubuntu)"
        )

    def require(self) -> Toolchain:
        if self.problem:
            raise FirmwareError(self.problem)
        return self


def _newlib(gcc: str | None) -> bool:
    if gcc is None:
        return False
    try:
        done = subprocess.run([gcc, "-print-file-name=librdimon.a"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return os.path.isabs(done.stdout.strip())  # gcc echoes the bare name when it finds nothing


def find_toolchain() -> Toolchain:
    """The tools on PATH (ARM_GCC_PREFIX may name another prefix than arm-none-eabi-; QEMU_SYSTEM_ARM
    another QEMU; CC the host compiler)."""
    prefix = os.environ.get("ARM_GCC_PREFIX", "arm-none-eabi-")
    gcc = shutil.which(prefix + "gcc")
    return Toolchain(
        gcc=gcc,
        nm=shutil.which(prefix + "nm"),
        size=shutil.which(prefix + "size"),
        newlib=_newlib(gcc),
        qemu=shutil.which(os.environ.get("QEMU_SYSTEM_ARM", "qemu-system-arm")),
        host_cc=shutil.which(os.environ.get("CC", "cc")),
    )


def find_cmsis_nn() -> Path | None:
    """CMSIS-NN's sources: CMSIS_NN_PATH, else shared/third_party/CMSIS-NN beside the project root or one of
    its parents (the checkout's layout), else beside the working directory or one of its parents."""
    env = os.environ.get("CMSIS_NN_PATH")
    if env:
        return Path(env) if (Path(env) / "Include" / "arm_nnfunctions.h").exists() else None
    for parent in (*PROJECT_ROOT.parents, Path.cwd(), *Path.cwd().parents):
        candidate = parent / "shared" / "third_party" / "CMSIS-NN"
        if (candidate / "Include" / "arm_nnfunctions.h").exists():
            return candidate
    return None


def run_tool(
    cmd: Sequence[str | os.PathLike], timeout: float, cwd: Path | None = None, what: str | None = None
) -> subprocess.CompletedProcess:
    """Run one tool; FirmwareError (with the last lines of its output) on a non-zero status or a timeout."""
    args = [str(c) for c in cmd]
    name = what or Path(args[0]).name
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise FirmwareError(f"{name} timed out after {timeout:g} s") from e
    if done.returncode != 0:
        tail = "\n".join((done.stderr + done.stdout).strip().splitlines()[-20:])
        raise FirmwareError(f"{name} failed (status {done.returncode}):\n{tail}")
    return done


@cache
def tool_version(tool: str) -> str:
    """First line of `tool --version` (part of the cache keys: another compiler builds another library)."""
    return run_tool([tool, "--version"], timeout=30).stdout.splitlines()[0].strip()
