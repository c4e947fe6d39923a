"""scikit-learn's 8x8 handwritten digits: ships with scikit-learn, so tests and `make run` need no download."""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.data import DataSplits, InMemoryDataset, balanced_pick, register_dataset, stratified_split


@register_dataset("digits")
def load_digits(
    *,
    root: Path | None = None,
    seed: int = 0,
    val_fraction: float | None = None,
    train_subset: int | None = None,
    download: bool = False,
    test_fraction: float = 0.2,
) -> DataSplits:
    """1x8x8 images in [0, 1], standardized with the training split's mean/std.

    Stratified seeded split: ``test_fraction`` of all images for test, then ``val_fraction`` (default 0.25)
    of the rest for validation, i.e. 60/20/20 by default. ``root`` and ``download`` are unused.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = torch.tensor(bunch.data, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    pool, test = stratified_split(y, test_fraction, g)
    rest, val = stratified_split(y[pool], 0.25 if val_fraction is None else val_fraction, g)
    train, val = pool[rest], pool[val]
    if train_subset is not None:
        train = train[balanced_pick(y[train], train_subset, g)]
    mean, std = x[train].mean(), x[train].std()

    def split(idx: torch.Tensor) -> InMemoryDataset:
        return InMemoryDataset((x[idx] - mean) / std, y[idx])

    return DataSplits(
        name="digits",
        train=split(train),
        val=split(val),
        test=split(test),
        num_classes=10,
        in_shape=(1, 8, 8),
        classes=tuple(str(c) for c in range(10)),
    )
