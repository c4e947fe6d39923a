"""SyncBatchNorm for the float warm-up of a multi-GPU search.

With DistributedDataParallel each rank normalises its own slice of the global batch, so a BatchNorm's
batch statistics are those of batch_size / world images (16 of 128 on 8 GPUs): noisier than the
single-process run the settings were tuned on, and different running statistics on every rank (DDP
then broadcasts rank 0's). SyncBatchNorm computes them over the global batch. Only the float warm-up
has plain BatchNorms: the supernet folds them into its layers (or scales them after its gates), and the
fine-tuned network trains at the batch statistics of its own phase. SyncBatchNorm runs on GPUs only; a
CPU (gloo) run keeps its BatchNorms.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from search import ddp

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@contextmanager
def synced_batchnorms(model: nn.Module, device: torch.device) -> Iterator[int]:
    """Within the block, every BatchNorm of `model` is a SyncBatchNorm sharing its parameters and running
    statistics (the same tensors: optimizers, checkpoints and state_dict keys are unaffected); the original
    modules are back afterwards. Yields how many were swapped (0 without DDP on GPUs)."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    if ddp.active() and device.type == "cuda":
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, _BATCHNORMS):
                    setattr(parent, name, _sync(child))
                    swapped.append((parent, name, child))
    try:
        yield len(swapped)
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def _sync(bn: nn.Module) -> nn.SyncBatchNorm:
    sync = nn.SyncBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    if bn.affine:
        sync.weight, sync.bias = bn.weight, bn.bias
    sync.running_mean, sync.running_var = bn.running_mean, bn.running_var
    sync.num_batches_tracked = bn.num_batches_tracked
    return sync.train(bn.training)
