"""The CLI's exception boundary: every way a command can end becomes an exit code and at most one line.

0 done; 2 bad input (ConfigError and the other refusals below: one line, nothing written);
3 training diverged; 130 interrupted; 1 anything unexpected. An unexpected exception is a bug, not
the user's fault, so its traceback is kept, but in a log file (the run folder's `error.log` when
the failure happened inside one, else a temporary file) whose path the one line gives: a traceback
on the terminal tells a user nothing they can act on, and a lost one tells the developer nothing.
Python warnings raised inside a command are shown as `bitgate: warning: ...` lines, once each.
"""

from __future__ import annotations

import errno
import re
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from search.errors import FOLDER_ATTR, ConfigError, TrainingDiverged, blame  # noqa: F401 - blame: re-exported

# Exceptions that mean "the input is wrong" and carry a message a user can act on. ConfigError is
# bitgate's own; the others are raised by loaders and registries with one-line messages (unknown
# model, missing data folder, a weights file that does not fit, a file that is not there).
BAD_INPUT: tuple[type[BaseException], ...] = (
    ConfigError,
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
    IsADirectoryError,
    FileExistsError,
)
# A file-system error on a path the user gave (too long, not there, a file where a folder belongs, no
# permission) is bad input too, even when it surfaces inside a reader that did not expect it.
PATH_ERRNOS = {
    errno.ENAMETOOLONG,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.EACCES,
    errno.EPERM,
    errno.ELOOP,
    errno.EROFS,
}
LOG_NAME = "error.log"
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")


def one_line(exc: BaseException | str) -> str:
    """The first line of a message, without terminal escape codes or control characters."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    text = _ESCAPES.sub("", text).strip()
    first = text.splitlines()[0].strip() if text else ""
    return first or (type(exc).__name__ if isinstance(exc, BaseException) else "")


def crash_log(exc: BaseException, command: str) -> Path:
    """Write `exc`'s full traceback to the folder it happened in (else a temporary file); returns the path."""
    text = f"bitgate {command}: {type(exc).__name__}\n" + "".join(traceback.format_exception(exc))
    folder = getattr(exc, FOLDER_ATTR, None)
    if folder is not None and Path(folder).is_dir():
        try:
            path = Path(folder) / LOG_NAME
            with path.open("a") as f:
                f.write(text + "\n")
            return path
        except OSError:
            pass
    fd, name = tempfile.mkstemp(prefix=f"bitgate-{command}-", suffix=".log")
    with open(fd, "w") as f:
        f.write(text)
    return Path(name)


def run_command(command: str, fn: Callable[[], int]) -> int:
    """Run one CLI command and turn whatever it raises into an exit code and at most one stderr line."""
    shown: set[str] = set()
    try:
        with _warnings_as_lines(shown):
            return fn()
    except KeyboardInterrupt as exc:
        hint = getattr(exc, "resume_command", None)
        print(f"bitgate {command}: interrupted" + (f"; resume with {hint}" if hint else ""), file=sys.stderr)
        return 130
    except TrainingDiverged as exc:
        print(f"bitgate {command}: error: {one_line(exc)}", file=sys.stderr)
        return 3
    except BAD_INPUT as exc:
        print(f"bitgate {command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in PATH_ERRNOS:
            return _bug(command, exc)
        name = str(exc.filename or "")
        name = name if len(name) <= 80 else f"{name[:60]}...{name[-12:]}"
        print(f"bitgate {command}: error: {name}: {exc.strerror or one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the boundary: nothing unexpected leaves as a traceback
        return _bug(command, exc)


def _bug(command: str, exc: BaseException) -> int:
    """An unexpected exception: one line naming it and the log holding its traceback; exit 1."""
    log = crash_log(exc, command)
    print(
        f"bitgate {command}: internal error ({type(exc).__name__}: {one_line(exc)}); this is a bug: "
        f"the full traceback is in {log}",
        file=sys.stderr,
    )
    return 1


@contextmanager
def _warnings_as_lines(shown: set[str]) -> Iterator[None]:
    """Python warnings as 'bitgate: warning: ...' lines through the logger, each text once (not the
    interpreter's two lines with a source excerpt)."""
    import logging

    log = logging.getLogger("bitgate")

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        text = one_line(str(message)).removeprefix("bitgate: ")
        if text not in shown:
            shown.add(text)
            log.warning("%s", text)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)  # a library's notice to developers
        warnings.showwarning = show
        yield
