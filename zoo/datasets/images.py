"""CIFAR-10 (its folder tree or the python-pickle release) and generic ImageFolder trees.

Both share the body of every image-file loader (zoo/datasets/image_files.py): choose the splits
from the file list, decode only those, wrap them.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zoo.data import CACHE_DIR, SHARED_DATA, DataSplits, missing_root, register_dataset, stratified_split
from zoo.datasets.image_files import IMAGE_SUFFIXES, Arrays, decode_selected, image_splits, scan_folder, select
from zoo.safe_load import one_line_of

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Per-channel statistics of the original CIFAR-10 training set (the shared JPEG copy is within 1%).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_BINARY = "cifar-10-batches-py"


def _folder_arrays(
    train_dir: Path,
    test_dir: Path | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    size: tuple[int, int] | None,
    grayscale: bool,
    classes: tuple[str, ...] | None = None,
    **subsets: int | None,
) -> tuple[list[Arrays], tuple[str, ...]]:
    """Decode the selected files of an ImageFolder layout: ((x, y) for train, val, test), classes."""
    paths, labels, classes = scan_folder(train_dir, classes)
    if len(classes) < 2:
        found = f" ({classes[0]})" if classes else ""
        raise ValueError(
            f"{train_dir} holds {len(classes)} class folder{found}: a classifier needs at least two "
            "(one folder of images per class)"
        )
    if test_dir is not None:
        test_paths, test_labels, _ = scan_folder(test_dir, classes)
    else:  # one folder: hold out a stratified test split first
        pool, held = stratified_split(labels, test_fraction, torch.Generator().manual_seed(seed + 7919))
        test_paths, test_labels = [paths[i] for i in held], labels[held]
        paths, labels = [paths[i] for i in pool], labels[pool]
    if not paths:
        raise ValueError(f"no images under {train_dir}/<class>/ (suffixes {', '.join(sorted(IMAGE_SUFFIXES))})")
    splits = decode_selected((paths, labels), (test_paths, test_labels), seed, val_fraction, size, grayscale, **subsets)
    return splits, classes


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers only: a pickle naming any other
    class (which could run code) is refused, so a planted file in a data folder cannot execute."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch file")
        return super().find_class(module, name)


def _read_cifar_binary(folder: Path) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], tuple[str, ...]]:
    """The python-pickle release (what torchvision.datasets.CIFAR10 downloads): data_batch_1..5, test_batch."""

    def load(name: str) -> dict:
        try:
            with open(folder / name, "rb") as f:
                d = _ArraysOnly(f, encoding="latin1").load()  # plain dicts, lists and numpy arrays, nothing else
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise ValueError(f"{folder / name} is not a CIFAR-10 batch file ({one_line_of(exc)})") from None
        if not isinstance(d, dict):
            raise ValueError(f"{folder / name} is not a CIFAR-10 batch file (no table of arrays)")
        return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}

    def arrays(names: list[str]) -> tuple[Tensor, Tensor]:
        parts = [load(n) for n in names]
        x = np.concatenate([np.asarray(p["data"], dtype=np.uint8).reshape(-1, 3, 32, 32) for p in parts])
        y = np.concatenate([np.asarray(p.get("labels", p.get("fine_labels")), dtype=np.int64) for p in parts])
        return torch.from_numpy(x), torch.from_numpy(y)

    classes = CIFAR10_CLASSES
    if (folder / "batches.meta").exists():
        classes = tuple(load("batches.meta").get("label_names", classes))
    return arrays([f"data_batch_{i}" for i in range(1, 6)]), arrays(["test_batch"]), classes


def choose_classes(name: str, available: tuple[str, ...], wanted: tuple[str, ...] | None) -> tuple[str, ...]:
    """The classes to keep, in the order given (their labels become 0..k-1); all of them when None."""
    if wanted is None:
        return available
    wanted = tuple(str(c) for c in wanted)
    unknown = [c for c in wanted if c not in available]
    if unknown or len(wanted) < 2 or len(set(wanted)) != len(wanted):
        why = f"unknown class {unknown[0]!r}" if unknown else "classes must name at least two distinct classes"
        raise ValueError(f"{name}: {why}; choose from {', '.join(available)}")
    return wanted


def keep_classes(x: Tensor, y: Tensor, available: tuple[str, ...], chosen: tuple[str, ...]) -> tuple[Tensor, Tensor]:
    """Rows of (x, y) whose class is in `chosen`, relabelled to the class's position in `chosen`."""
    remap = torch.full((len(available),), -1, dtype=torch.long)
    for i, c in enumerate(chosen):
        remap[available.index(c)] = i
    new = remap[y]
    keep = new >= 0
    return x[keep], new[keep]


def default_cifar10_root() -> Path:
    shared = SHARED_DATA / "cifar10"
    return shared if shared.is_dir() else CACHE_DIR / "cifar10"


@register_dataset("cifar10")
def load_cifar10(
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
    """CIFAR-10 from an ImageFolder tree (``root/train/<class>/*.jpg``, ``root/test/...``) or the
    torchvision binary release (``root/cifar-10-batches-py``), normalized with the standard mean/std.

    ``val_fraction`` (default 0.1) of every class of train is held out; ``train_subset``, ``val_subset``,
    ``test_subset`` take seeded class-balanced subsets. Training batches get random crop (4-pixel pad)
    + horizontal flip unless ``augment=False``. ``classes=("cat", "dog")`` keeps those classes only,
    labelled 0..k-1 in the order given (seed 002's pair tasks).
    """
    root = default_cifar10_root() if root is None else root
    vf = 0.1 if val_fraction is None else val_fraction
    subsets = dict(train_subset=train_subset, val_subset=val_subset, test_subset=test_subset)
    binary = root if root.name == CIFAR10_BINARY else root / CIFAR10_BINARY
    if (root / "train").is_dir() and (root / "test").is_dir():
        on_disk = tuple(sorted(d.name for d in (root / "train").iterdir() if d.is_dir() and not d.name.startswith(".")))
        chosen = choose_classes("cifar10", on_disk, classes)
        splits, classes = _folder_arrays(root / "train", root / "test", seed, vf, 0.0, None, False, chosen, **subsets)
    else:
        if not (binary / "data_batch_1").exists() and download:
            from torchvision.datasets import CIFAR10

            for train in (True, False):
                CIFAR10(str(binary.parent), train=train, download=True)
        if not (binary / "data_batch_1").exists():
            raise missing_root("cifar10", root, "train/<class>/*.jpg + test/<class>/*.jpg, or cifar-10-batches-py/")
        (x_tr, y_tr), (x_te, y_te), available = _read_cifar_binary(binary)
        chosen = choose_classes("cifar10", available, classes)
        if chosen != available:
            x_tr, y_tr = keep_classes(x_tr, y_tr, available, chosen)
            x_te, y_te = keep_classes(x_te, y_te, available, chosen)
        classes = chosen
        tr, va, te = select(y_tr, y_te, seed, vf, **subsets)
        splits = [(x_tr[tr], y_tr[tr]), (x_tr[va], y_tr[va]), (x_te[te], y_te[te])]
    if splits[0][0].shape[1:] != (3, 32, 32):
        raise ValueError(f"cifar10: images under {root} are {tuple(splits[0][0].shape[1:])}, expected (3, 32, 32)")
    return image_splits("cifar10", splits, CIFAR10_MEAN, CIFAR10_STD, classes, crop_pad=4 if augment else 0)


@register_dataset("imagefolder")
def load_imagefolder(
    *,
    root: Path | None = None,
    seed: int = 0,
    val_fraction: float | None = None,
    train_subset: int | None = None,
    download: bool = False,
    size: int | tuple[int, int] | None = None,
    grayscale: bool = False,
    test_fraction: float = 0.2,
    val_subset: int | None = None,
    test_subset: int | None = None,
    augment: bool = False,
) -> DataSplits:
    """Any ``root/train/<class>/*`` + ``root/test/<class>/*`` tree, or one ``root/<class>/*`` tree split
    seeded (``test_fraction`` held out for test). Images are resized to ``size`` (int or (H, W)) and
    normalized with the per-channel mean/std of the decoded training images.
    """
    if root is None:
        raise ValueError("imagefolder needs root=<folder with train/<class>/* + test/<class>/*, or <class>/*>")
    if not root.is_dir():
        raise missing_root("imagefolder", root, "train/<class>/* + test/<class>/*, or <class>/*")
    size = (size, size) if isinstance(size, int) else size
    split = (root / "train").is_dir() and (root / "test").is_dir()
    train_dir, test_dir = (root / "train", root / "test") if split else (root, None)
    splits, classes = _folder_arrays(
        train_dir,
        test_dir,
        seed,
        0.1 if val_fraction is None else val_fraction,
        test_fraction,
        size,
        grayscale,
        train_subset=train_subset,
        val_subset=val_subset,
        test_subset=test_subset,
    )
    x_train = splits[0][0].float().div(255.0)
    mean = x_train.mean(dim=(0, 2, 3)).tolist()
    std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    return image_splits("imagefolder", splits, mean, std, classes, crop_pad=4 if augment else 0)
