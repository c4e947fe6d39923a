"""Atomic file writes: readers never see half a file (the exporter's outputs, a run folder's files).

Lives in deploy/, the lowest package that writes files, so search/rundir.py and deploy/api.py share it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FILE_MODE = 0o644  # written files are data for others to read (mkstemp creates 0600)


def write_atomic(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
