"""How a run computes on a GPU: TF32, deterministic algorithms, torch.compile (settings tf32, deterministic, compile).

- TF32 (`tf32 = false`, the default): NVIDIA GPUs from Ampere on may round float32 convolutions and matrix
  products to 10-bit mantissas; PyTorch allows it for convolutions by default. A quantizer rounds x / step to
  an integer grid, so a value a rounding error away from a grid boundary lands on another level: the same
  concern that rules out bf16 outside the float warm-up (search.device.float_autocast). Off unless set.
- Deterministic (`deterministic = true`): torch.use_deterministic_algorithms, cuDNN without autotuning,
  cuBLAS with a fixed workspace; ops without a deterministic CUDA kernel are replaced where bitgate knows an
  exact equivalent (REPLACEMENTS; the run's log names each), otherwise PyTorch stops with the op's name.
- compile (`compile = "default"`, or another torch.compile mode such as "reduce-overhead"): every phase's
  module compiled in place (nn.Module.compile: names and checkpoints unchanged). Off by default: on a CPU
  the compilation costs more than a short run gains (benchmarks/throughput.py --compile measures it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

log = logging.getLogger("bitgate")
_KEEP: list[torch.library.Library] = []  # registered kernels live as long as their library object


def _adaptive_avg_pool_backward(grad: Tensor, x: Tensor) -> Tensor:
    """adaptive_avg_pool2d's backward, deterministic: grad_in = A_h^T @ grad @ A_w with A the (out, in)
    averaging matrix of each spatial dim (row i: 1 / |window i| over window i, PyTorch's windows
    [floor(i * in / out), ceil((i + 1) * in / out))), two matrix products instead of atomic adds."""
    (oh, ow), (h, w) = grad.shape[-2:], x.shape[-2:]
    a_h, a_w = _averaging(oh, h, grad), _averaging(ow, w, grad)
    return (a_h.T @ grad @ a_w).contiguous()


def _averaging(out: int, size: int, like: Tensor) -> Tensor:
    rows = torch.zeros(out, size, dtype=like.dtype)
    for i in range(out):
        start, end = (i * size) // out, -(-(i + 1) * size // out)
        rows[i, start:end] = 1.0 / (end - start)
    return rows.to(like.device)


# aten op -> (why it is replaced, a deterministic kernel with the op's signature), for CUDA tensors
REPLACEMENTS = {
    "_adaptive_avg_pool2d_backward": (
        "its CUDA kernel adds with atomics (AdaptiveAvgPool2d's backward)",
        _adaptive_avg_pool_backward,
    ),
}


def replace_nondeterministic(device: torch.device) -> list[str]:
    """Register the REPLACEMENTS for `device` (CUDA only: the CPU kernels are deterministic); returns their names."""
    if device.type != "cuda":
        return []
    if not _KEEP:
        lib = torch.library.Library("aten", "IMPL")
        for name, (_, kernel) in REPLACEMENTS.items():
            lib.impl(name, kernel, "CUDA")
        _KEEP.append(lib)
    return list(REPLACEMENTS)


@contextmanager
def numerics(tf32: bool, deterministic: bool, device: torch.device) -> Iterator[None]:
    """The run's TF32 and determinism settings while the block runs; PyTorch's own settings afterwards."""
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        torch.are_deterministic_algorithms_enabled(),
    )
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for reproducible results
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
        torch.use_deterministic_algorithms(True)
        for name in replace_nondeterministic(device):
            log.info("deterministic: aten::%s replaced (%s)", name, REPLACEMENTS[name][0])
    try:
        yield
    finally:
        (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic,
        ) = saved[:4]
        torch.use_deterministic_algorithms(saved[4])


def compiled(module: nn.Module, mode: str) -> nn.Module:
    """`module` compiled in place with torch.compile's `mode` ("" leaves it as it is)."""
    if mode:
        module.compile(mode=None if mode == "default" else mode)
    return module
