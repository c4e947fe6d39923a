"""The body every image-file loader shares (cifar10's folder tree, imagefolder, tinyimagenet).

A loader only finds its files and labels (each release lays them out its own way); then the same
steps follow: choose train / val / test from the file lists, seeded and class-balanced, decode only
the chosen files (a 200-image subset of a 60,000-image tree costs 200 decodes, not 60,000; serial
PIL decoding measured faster than a 2-thread pool on the 2-core development machine, ~8,000 CIFAR
JPEGs per second), and wrap the uint8 tensors with the data set's mean/std and augmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zoo.data import DataSplits, InMemoryDataset, RandomCropFlip, balanced_pick, identity, stratified_split
from zoo.safe_load import one_line_of

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff", ".webp"}
Labelled = tuple[list[Path], Tensor]  # image paths and their labels
Arrays = tuple[Tensor, Tensor]  # decoded images (N, C, H, W) uint8 and their labels


def scan_folder(folder: Path, classes: tuple[str, ...] | None = None) -> tuple[list[Path], Tensor, tuple[str, ...]]:
    """Image paths and labels of ``folder/<class>/*``; classes sorted by name, as torchvision's ImageFolder."""
    if classes is None:
        classes = tuple(sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")))
    paths, labels = [], []
    for i, c in enumerate(classes):
        files = (
            sorted(f for f in (folder / c).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if (folder / c).is_dir()
            else []
        )
        paths += files
        labels += [i] * len(files)
    return paths, torch.tensor(labels, dtype=torch.long), classes


def decode(paths: list[Path], size: tuple[int, int] | None = None, grayscale: bool = False) -> Tensor:
    """Decode images into one (N, C, H, W) uint8 tensor, resized (bilinear) to ``size`` = (H, W) if given."""
    from PIL import Image

    mode, out = ("L" if grayscale else "RGB"), []
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert(mode)
                if size is not None and im.size != (size[1], size[0]):
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                a = np.asarray(im)
        except (OSError, SyntaxError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
            raise ValueError(f"{p} is not a readable image ({one_line_of(exc)}); remove or replace it") from None
        if out and a.shape != out[0].shape:
            raise ValueError(f"{p}: size {a.shape[:2]} differs from {out[0].shape[:2]}; pass size=(H, W) to resize")
        out.append(a)
    if not out:
        return torch.zeros((0, 1 if grayscale else 3, *(size or (0, 0))), dtype=torch.uint8)
    x = torch.from_numpy(np.stack(out))
    return x[:, None] if grayscale else x.permute(0, 3, 1, 2).contiguous()


def select(
    y_train: Tensor,
    y_test: Tensor,
    seed: int,
    val_fraction: float,
    train_subset: int | None = None,
    val_subset: int | None = None,
    test_subset: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Indices of train, val (class-balanced hold-out of train) and test; subsets are seeded and balanced.

    The validation hold-out depends only on (seed, val_fraction), never on the subset sizes, so runs
    with different ``train_subset`` are validated on the same images.
    """
    g = torch.Generator().manual_seed(seed)
    train, val = stratified_split(y_train, val_fraction, g)
    if train_subset is not None:
        train = train[balanced_pick(y_train[train], train_subset, g)]
    if val_subset is not None:
        val = val[balanced_pick(y_train[val], val_subset, g)]
    test = torch.arange(len(y_test))
    if test_subset is not None:
        test = balanced_pick(y_test, test_subset, g)
    return train, val, test


def decode_selected(
    train: Labelled,
    test: Labelled,
    seed: int,
    val_fraction: float,
    size: tuple[int, int] | None = None,
    grayscale: bool = False,
    **subsets: int | None,
) -> list[Arrays]:
    """(x, y) of train, val and test: the files `select` chooses (``subsets``: its *_subset sizes), decoded."""
    tr, va, te = select(train[1], test[1], seed, val_fraction, **subsets)
    parts = ((train, tr), (train, va), (test, te))
    return [(decode([paths[i] for i in idx.tolist()], size, grayscale), ys[idx]) for (paths, ys), idx in parts]


def image_splits(
    name: str,
    splits: list[Arrays],
    mean: tuple[float, ...] | list[float],
    std: tuple[float, ...] | list[float],
    classes: tuple[str, ...],
    crop_pad: int = 0,
) -> DataSplits:
    """Train, val and test (x, y) as DataSplits, normalized with mean/std; crop_pad > 0: training batches
    get a random crop of that padding + a horizontal flip."""
    train, val, test = (InMemoryDataset(x, y, mean, std) for x, y in splits)
    return DataSplits(
        name=name,
        train=train,
        val=val,
        test=test,
        num_classes=len(classes),
        in_shape=tuple(splits[0][0].shape[1:]),
        classes=classes,
        augment=RandomCropFlip(crop_pad) if crop_pad else identity,
    )
