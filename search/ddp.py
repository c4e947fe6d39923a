"""One search on several GPUs (or CPU processes): torch DistributedDataParallel around every phase.

    torchrun --nproc-per-node 4 -m bitgate search --config configs/cifar10_resnet8_paper.toml
    bitgate search --ddp 4 --config ...          # the same, launched for you on this machine

Each process (rank) holds the whole supernet and trains on its slice of every batch: `batch_size`
stays the GLOBAL batch, split evenly over the ranks, so N processes take the steps one process
would take. DistributedDataParallel averages the gradients of all parameters, the gates' `alpha`
included, so gates, optimizer states and therefore the expected cost (and a budget controller's
strength) stay identical on every rank; it broadcasts rank 0's weights and buffers when a phase
starts and its BatchNorm statistics at every step. Random draws (shuffling, Gumbel noise) come
from the same seeded generators on every rank. Only rank 0 writes: `search.rundir` skips every
write on the other ranks and hands them rank 0's run folder; they read its checkpoints to resume
(on several machines that folder must be on a shared file system).
Backends: nccl on CUDA, gloo on the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from search.config import ConfigError
from supernet.layers import ActQuant
from zoo.data import DataSplits, InMemoryDataset


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main() -> bool:
    """True on rank 0, and whenever no process group is running."""
    return not active() or dist.get_rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _on_gpus(device: str) -> bool:
    """Does a `device` setting put each rank on a GPU of this machine (nccl), rather than the CPU (gloo)?"""
    return (device in ("auto", "cuda") or device.startswith("cuda")) and torch.cuda.is_available()


def check_ranks(processes: int, device: str) -> None:
    """One line instead of a raw CUDA error: more GPU ranks than this machine has GPUs."""
    if _on_gpus(device) and processes > torch.cuda.device_count():
        raise ConfigError(
            f"--ddp {processes}: this machine has {torch.cuda.device_count()} CUDA device(s), one per "
            f"process; use --ddp {torch.cuda.device_count()} or device=cpu"
        )


def setup(device: str) -> None:
    """Join the process group torchrun describes (env://): nccl for CUDA devices, gloo otherwise."""
    if dist.is_initialized() or not launched_by_torchrun():
        return
    cuda = _on_gpus(device)
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        check_ranks(max(local + 1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))), device)
        torch.cuda.set_device(local)  # "auto"/"cuda" now mean this rank's GPU
    dist.init_process_group("nccl" if cuda else "gloo")


def agree(value):
    """Rank 0's `value` on every rank (e.g. the run folder rank 0 created)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# ------------------------------------------------------------------------------------ data


class ShardedDataset:
    """A training set of which this rank reads the slice [rank::world] of every global batch.

    Everything but batch iteration (`batch`, `tensors`, length) is the whole set, so calibration
    batches and evaluations are the same on every rank. Every rank gets the same number of batches
    (a last batch smaller than the world is dropped), or the ranks' collectives would not pair up.
    """

    def __init__(self, base: InMemoryDataset, rank: int, world: int) -> None:
        self.base, self.rank, self.world = base, rank, world

    def __len__(self) -> int:
        return len(self.base)

    def __getattr__(self, name: str):  # x, y, mean, std, device, nbytes, batch, tensors, subset
        return getattr(self.base, name)

    def iter_batches(self, order: Tensor, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        full = len(order) - len(order) % batch_size
        mine = order[:full].view(-1, self.world)[:, self.rank]  # rank r: items r, r+W, ... of each batch
        yield from self.base.iter_batches(mine, batch_size // self.world)
        rest = order[full:]
        if len(rest) >= self.world:
            yield from self.base.iter_batches(rest[self.rank :: self.world][: len(rest) // self.world], len(rest))


def shard(data: DataSplits, batch_size: int) -> DataSplits:
    """The training split sharded over the ranks (validation and test stay whole); a no-op without DDP."""
    if not active():
        return data
    world = dist.get_world_size()
    if batch_size % world:
        raise ConfigError(f"batch_size {batch_size} must be divisible by the number of processes ({world})")
    return replace(data, train=ShardedDataset(data.train, dist.get_rank(), world))


# ---------------------------------------------------------------------------------- models


class _ClassForward(nn.Module):
    """Calls `inner`'s own class forward: what DistributedDataParallel wraps (see `data_parallel`)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        return type(self.inner).forward(self.inner, *args, **kwargs)


# Buffers every rank sets alike between steps (search controls, fixed bits, channel routes): broadcasting them
# at every forward would only bump their version counters, which makes the values derived from them
# (supernet/derived.py) be rebuilt, and read on the host, at every step.
CONTROL_BUFFERS = ("allowed", "reserved", "signed", "tau", "noise", "bits", "index")


def needs_unused_parameters(module: nn.Module) -> bool:
    """Does the module train a parameter its forward never uses (DDP must then look for it every step)?
    Known case: the clip of a disabled activation quantizer. Every option of a gate and every weight
    reach the loss, also with hard gates (straight-through), so a search needs no such traversal."""
    return any(isinstance(m, ActQuant) and not m.enabled and m.clip.requires_grad for m in module.modules())


@contextmanager
def data_parallel(modules: Iterable[nn.Module], device: torch.device) -> Iterator[None]:
    """While a phase trains, calling one of `modules` runs DistributedDataParallel's forward.

    The training loop keeps calling its module (`net(x)`), whose names, state_dict and submodules
    stay as they are: for the phase's duration the module's instance `forward` is a DDP wrapper
    of its class forward, removed when the phase ends (so copies made later, e.g. by
    materialize, are plain modules). BatchNorm statistics are still broadcast every step, the
    search controls (CONTROL_BUFFERS) are not.
    """
    patched = []
    if active():
        for m in modules:
            if any(p.requires_grad for p in m.parameters()) and "forward" not in m.__dict__:
                ids = [device.index] if device.type == "cuda" else None
                wrapped = _ClassForward(m)
                controls = [f"inner.{n}" for n, _ in m.named_buffers() if n.rpartition(".")[2] in CONTROL_BUFFERS]
                DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(wrapped, controls)
                unused = needs_unused_parameters(m)
                m.__dict__["forward"] = DistributedDataParallel(wrapped, device_ids=ids, find_unused_parameters=unused)
                patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m.__dict__["forward"]
