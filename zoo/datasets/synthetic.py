"""Seeded Gaussian classes of any shape: a learnable stand-in data set for fast end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.data import DataSplits, InMemoryDataset, balanced_pick, register_dataset, stratified_split


@register_dataset("synthetic")
def load_synthetic(
    *,
    root: Path | None = None,
    seed: int = 0,
    val_fraction: float | None = None,
    train_subset: int | None = None,
    download: bool = False,
    in_shape: tuple[int, ...] = (1, 8, 8),
    num_classes: int = 4,
    n_train: int = 512,
    n_test: int = 128,
    separation: float = 0.5,
) -> DataSplits:
    """x = mu[y] + N(0, 1), with class means mu ~ N(0, separation^2) per element.

    In D dimensions two means lie about separation * sqrt(2D) noise units apart, so any model can beat
    chance quickly; lower ``separation`` for a harder task. ``val_fraction`` (default 0.2) is held out of
    the ``n_train`` pool. ``root`` and ``download`` are unused.
    """
    in_shape = tuple(int(s) for s in in_shape)
    g = torch.Generator().manual_seed(seed)
    means = torch.randn((num_classes, *in_shape), generator=g) * separation

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % num_classes
        y = y[torch.randperm(n, generator=g)]
        return means[y] + torch.randn((n, *in_shape), generator=g), y

    x_pool, y_pool = sample(n_train)
    x_test, y_test = sample(n_test)
    train, val = stratified_split(y_pool, 0.2 if val_fraction is None else val_fraction, g)
    if train_subset is not None:
        train = train[balanced_pick(y_pool[train], train_subset, g)]
    return DataSplits(
        name="synthetic",
        train=InMemoryDataset(x_pool[train], y_pool[train]),
        val=InMemoryDataset(x_pool[val], y_pool[val]),
        test=InMemoryDataset(x_test, y_test),
        num_classes=num_classes,
        in_shape=in_shape,
        classes=tuple(f"c{i}" for i in range(num_classes)),
    )
