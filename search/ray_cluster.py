"""Joining a Ray cluster, and saying in one line why a sweep cannot run on it.

Ray's own behaviour at the edges is hard on a user: `ray.init` on an address where nothing listens
retries for minutes; `--address auto` without a cluster is a raw ConnectionError; a task asking for a GPU
no node has waits forever without a word; a failed task reaches the driver as a traceback with colour
codes. Here the address is probed first (a plain TCP connect with a timeout), the cluster's nodes are
checked for a point's resources, and a task's failure is reduced to its own one-line message.
Imported only for `--executor ray` (search.ray_sweep).
"""

from __future__ import annotations

import re
import socket
from typing import Any

from search.config import ConfigError

CONNECT_TIMEOUT_S = 10.0
GCS_PORT, CLIENT_PORT = 6379, 10001  # Ray's defaults: `ray start --head` and the Ray Client server
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _host_port(address: str) -> tuple[str, int]:
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://").strip("/")
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    try:
        return host or "localhost", int(port) if port else (CLIENT_PORT if client else GCS_PORT)
    except ValueError:
        raise ConfigError(f"--address {address!r}: expected host:port, ray://host:port or auto") from None


def probe(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse (one line) an address where nothing accepts a connection within `timeout` seconds."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
        raise ConfigError(
            f"no Ray cluster at {address} ({why} within {timeout:g} s on {host}:{port}); start one "
            f"with `ray start --head` there, or drop --address to run Ray on this machine"
        ) from None


def connect(ray: Any, address: str | None) -> None:
    """ray.init on `address` (None: a Ray of this machine's own), every failure as one ConfigError line."""
    if ray.is_initialized():
        return
    if address not in (None, "auto", "local"):
        probe(address)
    try:
        ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address}" if address else "on this machine"
        raise ConfigError(f"cannot start or join a Ray cluster {where}: {first_line(exc)}") from None


def check_resources(ray: Any, cpus: float, gpus: float) -> None:
    """Refuse (one line) resources that no node of the cluster has: such a task would wait forever."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive", True)]
    if any(r.get("CPU", 0.0) >= cpus and r.get("GPU", 0.0) >= gpus for r in nodes):
        return
    largest = max(nodes, key=lambda r: (r.get("GPU", 0.0), r.get("CPU", 0.0)), default={})
    raise ConfigError(
        f"no node of the Ray cluster has {cpus:g} CPU(s) and {gpus:g} GPU(s) for a point (the largest "
        f"has {largest.get('CPU', 0.0):g} CPU(s), {largest.get('GPU', 0.0):g} GPU(s)); lower "
        f"--cpus-per-point / --gpus-per-point"
    )


def first_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def task_error(exc: BaseException, attempts: int) -> str:
    """A failed task's reason in one line: the exception the task raised, or how its worker died."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        return f"{type(cause).__name__}: {first_line(cause)}"
    name = type(exc).__name__
    if name in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError"):
        return f"its worker died ({name}: killed, out of memory or its node lost) in each of {attempts} attempt(s)"
    return f"{name}: {first_line(exc)}"
