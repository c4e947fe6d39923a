"""Where a run computes: the `device` and `amp` settings resolved to torch objects.

`device = "auto"` picks CUDA when present, else Apple's MPS, else the CPU, so one config runs on a
laptop and on a GPU server. Explicit names (`cpu`, `cuda`, `cuda:1`, `mps`) are checked against what
this machine has before anything is written, with a one-line error.

Random generators live on the run's device (see `search.context.epoch_generator`): shuffling orders,
augmentation offsets and Gumbel noise are drawn there, with no copy from the host per step, so the same
seed gives the same architecture on every machine of the same device type (a GPU draws another stream
than the CPU from one seed, and float kernels differ between device types anyway).
"""

from __future__ import annotations

import contextlib

import torch

from search.config import DEVICE_NAME, ConfigError


def resolve_device(name: str) -> torch.device:
    """The torch device a `device` setting names on this machine; ConfigError when it is not here.

    The config checks the name's syntax only, so that a run folder searched on a GPU still loads
    on a laptop; availability is checked here, before a run writes anything.
    """
    if not DEVICE_NAME.fullmatch(name):
        raise ConfigError(f"device must be auto, cpu, mps, cuda or cuda:N; got {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} is not available: no CUDA GPU here (use device=cpu or auto)")
        index = torch.cuda.current_device() if device.index is None else device.index  # DDP: this rank's GPU
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {name!r} is not available: this machine has {torch.cuda.device_count()} "
                f"CUDA device(s), cuda:0..cuda:{torch.cuda.device_count() - 1}"
            )
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise ConfigError(f"device {name!r} is not available: no Apple MPS here (use device=cpu or auto)")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def float_autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for the FLOAT network's forward pass (the warm-up), or nothing.

    Not used in the search and fine-tune phases: there every weight and activation goes through a
    quantizer that rounds x / scale to an integer grid, and bf16 keeps only 8 significant bits, so
    an 8-bit activation level (up to 127) or an 8-bit weight level would round to a different
    integer than in float32. The quantized network must compute what the integer export computes.
    """
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def fits_in_memory(nbytes: int, device: torch.device, share: float = 0.5) -> bool:
    """Whether a data set of `nbytes` may be held on `device` (at most `share` of its free memory)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= share * free
    if device.type == "mps":
        limit = torch.mps.recommended_max_memory() if hasattr(torch.mps, "recommended_max_memory") else 0
        return nbytes <= share * limit
    return True  # the CPU: the data set is already in host memory
