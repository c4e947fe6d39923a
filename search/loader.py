"""Putting a run's data where its device can read it: held in device memory, or streamed.

A data set that fits in (half of) the device's free memory is copied there once (CIFAR-10's 184 MB
of uint8 images does on any GPU), and batches are cut on the device. A larger one stays in host
memory and is streamed: a `DataLoader` with worker processes gathers each batch from pinned memory
and copies it to the device while the previous batch computes. Both deliver the same batches in the
same order for the same generator, so where the data lives never changes a result.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from search.device import fits_in_memory
from zoo.data import DataSplits, InMemoryDataset


class StreamedDataset(InMemoryDataset):
    """An in-memory data set on the host whose batches come out on `device` (uint8 crosses the bus, not floats)."""

    def __init__(self, base: InMemoryDataset, device: torch.device, workers: int | None = None) -> None:
        x, y = base.x.cpu(), base.y.cpu()
        pin = device.type == "cuda"
        super().__init__(x.pin_memory() if pin else x, y.pin_memory() if pin else y, base.mean, base.std)
        self.target = torch.device(device)
        self.workers = min(4, os.cpu_count() or 1) if workers is None else workers

    @property
    def device(self) -> torch.device:
        return self.target

    def batch(self, idx: Tensor | slice) -> tuple[Tensor, Tensor]:
        if isinstance(idx, Tensor):
            idx = idx.cpu()
        return self._upload(self.x[idx], self.y[idx])

    def iter_batches(self, order: Tensor, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        chunks = list(order.cpu().split(batch_size))
        loader = DataLoader(
            _Gather(self.x, self.y),
            batch_sampler=chunks,
            collate_fn=_first,
            num_workers=self.workers,
            pin_memory=self.target.type == "cuda",
            persistent_workers=False,
        )
        for x, y in loader:
            yield self._upload(x, y)

    def subset(self, idx: Tensor) -> StreamedDataset:
        return StreamedDataset(
            InMemoryDataset(self.x[idx], self.y[idx], self.mean, self.std), self.target, self.workers
        )

    def to(self, device: torch.device | str) -> InMemoryDataset:
        return InMemoryDataset(self.x.to(device), self.y.to(device), self.mean, self.std)

    def _upload(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        non_blocking = self.target.type == "cuda"
        x, y = x.to(self.target, non_blocking=non_blocking), y.to(self.target, non_blocking=non_blocking)
        return self._prepare(x), y


class _Gather(torch.utils.data.Dataset):
    """Raw (uint8) rows at a whole batch of indices: one gather per batch in the worker."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitems__(self, idx: list[int]) -> list[tuple[Tensor, Tensor]]:
        index = torch.as_tensor(idx)
        return [(self.x[index], self.y[index])]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.x[i], self.y[i]


def _first(items: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    return items[0]


def place(splits: DataSplits, device: torch.device, stream: bool | None = None) -> DataSplits:
    """`splits` held on `device` when they fit there (or stream=False), else streamed to it."""
    if device.type == "cpu" and not stream:
        return splits
    total = sum(s.nbytes for s in (splits.train, splits.val, splits.test))
    if stream is None:
        stream = not fits_in_memory(total, device)
    if not stream:
        return splits.to(device)
    return replace(
        splits,
        train=StreamedDataset(splits.train, device),
        val=StreamedDataset(splits.val, device),
        test=StreamedDataset(splits.test, device),
    )
