"""Every path a command will write, checked before anything is written: length, existence, type.

A path is refused in one line when the file system could not hold it (a name past NAME_MAX, a
whole path past PATH_MAX), when a folder is wanted where a file is (or the reverse), or when the
nearest existing parent cannot be written. Commands call these before their first mkdir, so a
refused output leaves nothing behind, and `OSError: File name too long` never surfaces mid-run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from search.errors import ConfigError

RESERVE = 160  # room below a checked folder for what a run writes in it: "NN-<name>/checkpoints/.x.pt.tmp"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long to look up does not exist either
        return False


def _existing_parent(path: Path) -> Path:
    probe = path
    while not _exists(probe) and probe.parent != probe:
        probe = probe.parent
    return probe


def _limit(where: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(where if where.is_dir() else where.parent, name))
    except (OSError, ValueError):
        return default


def check_lengths(path: Path, key: str, reserve: int = 0) -> None:
    """Each component of `path` within the file system's NAME_MAX, the whole within PATH_MAX - reserve."""
    absolute = Path(os.path.abspath(path))
    anchor = _existing_parent(absolute)
    name_max, path_max = _limit(anchor, "PC_NAME_MAX", 255), _limit(anchor, "PC_PATH_MAX", 4096)
    for part in absolute.parts:
        if len(os.fsencode(part)) > name_max:
            raise ConfigError(
                f"{key}: the name {part[:24]}... is {len(os.fsencode(part))} bytes long; "
                f"this file system allows {name_max}"
            )
    if len(os.fsencode(str(absolute))) + reserve > path_max:
        raise ConfigError(
            f"{key}: the path {str(absolute)[:40]}... is too long for this file system "
            f"({len(os.fsencode(str(absolute)))} bytes, with {reserve} more for what goes in it; "
            f"at most {path_max})"
        )


def _writable_parent(path: Path, key: str) -> None:
    probe = _existing_parent(path)
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"{key} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{key} {path}: cannot write into {probe} (permission denied)")


def check_folder_path(path: Path | str, key: str, reserve: int = RESERVE) -> Path:
    """A folder that exists or can be made: not a file, not below a file, writable, of a length that fits."""
    if not str(path).strip():
        raise ConfigError(f"{key} is empty; give a folder")
    path = Path(path).expanduser()
    check_lengths(path, key, reserve)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{key} {path} is a file, not a folder")
    _writable_parent(path, key)
    return path


def check_file_path(path: Path | str, key: str, replace: Callable[[Path], bool] = lambda path: True) -> Path:
    """A file to write: not a folder, its folder writable; an existing file only when `replace(path)` says
    it may go (e.g. an earlier report: never the user's own file that happens to have that name)."""
    if not str(path).strip():
        raise ConfigError(f"{key} is empty; give a file name")
    path = Path(path).expanduser()
    check_lengths(path, key)
    if path.is_dir():
        raise ConfigError(f"{key} {path} is a folder; give a file name, e.g. {path / 'report.html'}")
    if path.exists() and not replace(path):
        raise ConfigError(f"{key} {path} already exists and is not one bitgate wrote; give another name")
    _writable_parent(path.parent, key)
    return path
