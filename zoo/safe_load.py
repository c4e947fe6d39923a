"""Files from elsewhere are data: torch.load(weights_only=True), and its refusals in one plain line.

A weights file, a checkpoint or a data set's pickle may come from anyone. torch.load with
weights_only=True builds tensors and plain containers only; what it refuses it explains in a page
with terminal escape codes that ends by suggesting to turn that safety off, the one thing not to do
with such a file. `load_failure` says instead what is wrong and why it was refused.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")
PICKLED = "it holds pickled Python objects, not plain tensors: refused, since loading it could run code"


def one_line_of(exc: BaseException, limit: int = 120) -> str:
    """An exception's first line, without terminal escape codes, at most `limit` characters."""
    text = _ESCAPES.sub("", str(exc)).strip()
    return (text.splitlines()[0][:limit] if text else "") or type(exc).__name__


def load_failure(exc: BaseException) -> str:
    """Why a safe load refused a file, in words a user can act on."""
    if "Weights only load failed" in str(exc) or isinstance(exc, pickle.UnpicklingError):
        return PICKLED
    return one_line_of(exc)


def safe_torch_load(path: Path | str) -> Any:
    """torch.load(path, weights_only=True) on the CPU, without torch's warnings about the file's pickle
    protocol (noise next to the one line that says whether the file was accepted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)
