"""The on-disk cache of built artefacts (CMSIS-NN libraries, the QEMU plugin), shared by every export.

Root: BITGATE_CACHE_DIR, else $XDG_CACHE_HOME/bitgate, else ~/.cache/bitgate. An entry is a folder
named by a key that hashes everything its content depends on; it is built in a temporary folder
beside it and renamed into place, so a half-built entry is never seen and two processes building the
same entry both end with a good one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("BITGATE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bitgate"


def digest(parts: Iterable[str | bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        data = p.encode() if isinstance(p, str) else p
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:16]


def files_digest(paths: Iterable[Path], base: Path) -> str:
    """Hash of the files' paths (relative to base) and contents."""
    parts: list[str | bytes] = []
    for p in sorted(paths):
        parts += [str(p.relative_to(base)), p.read_bytes()]
    return digest(parts)


def cached(kind: str, key: str, build: Callable[[Path], None]) -> Path:
    """The folder <root>/<kind>/<key>, calling build(tmp_folder) to fill it when it does not exist yet."""
    entry = cache_root() / kind / key
    if entry.is_dir():
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{key}."))
    try:
        build(tmp)
        try:
            os.rename(tmp, entry)
        except OSError:  # another process finished first: keep its entry
            if not entry.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry
