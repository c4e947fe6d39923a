"""Tiny ImageNet (200 classes, 64x64) in its official folder layout, decoded once into uint8 tensors.

The release (http://cs231n.stanford.edu/tiny-imagenet-200.zip) unpacks to

    wnids.txt                              the 200 class ids (WordNet ids), one per line
    train/<wnid>/images/<wnid>_<i>.JPEG    500 training images per class
    val/images/val_<i>.JPEG                10,000 validation images ...
    val/val_annotations.txt                ... labelled here: "<file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>"
    test/images/*.JPEG                     unlabelled (not used)

which the generic `imagefolder` scan cannot read (the images sit one level deeper, and the
validation labels live in a text file). As is usual (seed 001 included), the labelled official
validation set serves as the test set, and validation is a stratified hold-out of train.
Normalization uses ImageNet's mean/std, so ImageNet-initialised weights (`pretrained = ...`) see
the statistics they were trained with.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from zoo.data import CACHE_DIR, SHARED_DATA, DataSplits, missing_root, register_dataset
from zoo.datasets.image_files import IMAGE_SUFFIXES, decode_selected, image_splits
from zoo.datasets.images import choose_classes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYOUT = "wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG + val/val_annotations.txt"


def default_root() -> Path:
    for base in (SHARED_DATA, CACHE_DIR):
        for name in ("tiny-imagenet-200", "tinyimagenet"):
            if (base / name).is_dir():
                return base / name
    return CACHE_DIR / "tiny-imagenet-200"


def scan_tinyimagenet(root: Path, classes: tuple[str, ...]) -> tuple[list[Path], Tensor, list[Path], Tensor]:
    """(train paths, labels, val paths, labels) for `classes` (label = position in `classes`)."""
    index = {c: i for i, c in enumerate(classes)}
    train, y_train = [], []
    for c in classes:
        files = sorted(f for f in (root / "train" / c / "images").glob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        train += files
        y_train += [index[c]] * len(files)
    val, y_val = [], []
    for line_no, line in enumerate((root / "val" / "val_annotations.txt").read_text().splitlines(), 1):
        parts = line.split("\t")
        if not line.strip():
            continue
        if len(parts) < 2:
            raise ValueError(f"tinyimagenet: {root}/val/val_annotations.txt line {line_no} is not '<file>\\t<wnid>...'")
        if parts[1] in index:
            val.append(root / "val" / "images" / parts[0])
            y_val.append(index[parts[1]])
    return train, torch.tensor(y_train, dtype=torch.long), val, torch.tensor(y_val, dtype=torch.long)


@register_dataset("tinyimagenet")
def load_tinyimagenet(
    *,
    root: Path | None = None,
    seed: int = 0,
    val_fraction: float | None = None,
    train_subset: int | None = None,
    download: bool = False,
    val_subset: int | None = None,
    test_subset: int | None = None,
    augment: bool = True,
    classes: tuple[str, ...] | None = None,
) -> DataSplits:
    """Tiny ImageNet from `root` (default: the shared data folder's or ~/.cache/bitgate's tiny-imagenet-200).

    Classes are wnids.txt's order (or ``classes``, a subset, relabelled 0..k-1); ``val_fraction``
    (default 0.1) of train is held out for validation; the official val set is the test set.
    Nothing is downloaded (``download`` is refused with the address to fetch it from).
    """
    root = default_root() if root is None else root
    if not (root / "wnids.txt").is_file() or not (root / "val" / "val_annotations.txt").is_file():
        if download:
            raise ValueError(
                "tinyimagenet: automatic download is not offered; unzip "
                f"http://cs231n.stanford.edu/tiny-imagenet-200.zip to {root}"
            )
        raise missing_root("tinyimagenet", root, LAYOUT)
    available = tuple(w.strip() for w in (root / "wnids.txt").read_text().split() if w.strip())
    chosen = choose_classes("tinyimagenet", available, classes)
    train_paths, y_train, test_paths, y_test = scan_tinyimagenet(root, chosen)
    if not train_paths:
        raise ValueError(f"tinyimagenet: no images under {root}/train/<wnid>/images/ for {len(chosen)} classes")
    vf = 0.1 if val_fraction is None else val_fraction
    subsets = dict(train_subset=train_subset, val_subset=val_subset, test_subset=test_subset)
    splits = decode_selected((train_paths, y_train), (test_paths, y_test), seed, vf, (64, 64), **subsets)
    return image_splits("tinyimagenet", splits, IMAGENET_MEAN, IMAGENET_STD, chosen, crop_pad=8 if augment else 0)
