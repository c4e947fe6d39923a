"""The QEMU TCG plugin that counts retired instructions (plugin/insn_count.c), built on demand.

Built with the host C compiler (`cc -shared -fPIC`) into the cache, keyed by the compiler and the
plugin's sources; QEMU loads it with `-plugin <lib>,mark=<address of bg_mark>,out=<file>`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from deploy.firmware.cache import cached, digest
from deploy.firmware.toolchain import find_toolchain, run_tool, tool_version

LIBRARY = "libbg_insn_count.so"
_SOURCES = ("insn_count.c", "qemu_plugin_api.h")


def _source_dir() -> Path:
    return Path(str(resources.files(__package__).joinpath("plugin")))


def build_plugin(timeout: float = 120) -> Path:
    """The cached plugin library (compiled now, in about a second, if missing)."""
    cc = find_toolchain().require().host_cc
    src = _source_dir()
    key = digest([tool_version(cc), *((src / name).read_bytes() for name in _SOURCES)])

    def build(work: Path) -> None:
        run_tool(
            [
                cc,
                "-shared",
                "-fPIC",
                "-O2",
                "-std=gnu11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-fvisibility=hidden",
                "-I",
                src,
                src / "insn_count.c",
                "-o",
                work / LIBRARY,
            ],
            timeout=timeout,
        )

    return cached("qemu-plugin", key, build) / LIBRARY
