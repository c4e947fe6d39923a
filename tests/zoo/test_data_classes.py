"""Class subsets of CIFAR-10 (seed 002's pair tasks) and the Tiny ImageNet layout, on generated trees."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data import load_dataset

CLASSES = [f"class{i}" for i in range(10)]


def write_tree(folder: Path, per_class: int) -> None:
    """Lossless PNGs whose blue channel is 20 * (class index in CLASSES)."""
    for c, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            a = np.zeros((32, 32, 3), dtype=np.uint8)
            a[..., 2] = 20 * c
            Image.fromarray(a).save(folder / name / f"{i:04d}.png")


def original_class(ds) -> torch.Tensor:
    return ds.x[:, 2, 0, 0].long() // 20


def test_cifar10_tree_keeps_only_the_chosen_classes_relabelled(tmp_path: Path) -> None:
    write_tree(tmp_path / "train", 10)
    write_tree(tmp_path / "test", 3)
    s = load_dataset("cifar10", root=tmp_path, classes=("class5", "class3"))
    assert s.classes == ("class5", "class3") and s.num_classes == 2
    for ds in (s.train, s.val, s.test):
        assert set(ds.y.tolist()) == {0, 1}
        assert torch.equal(original_class(ds), torch.where(ds.y == 0, 5, 3))  # label = position in `classes`
    assert (len(s.train) + len(s.val), len(s.test)) == (20, 6)


def test_cifar10_binary_release_class_pair(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, n in [*((f"data_batch_{i}", 20) for i in range(1, 6)), ("test_batch", 10)]:
        labels = [k % 10 for k in range(n)]
        data = np.repeat(np.array(labels, dtype=np.uint8)[:, None], 3072, axis=1)  # every pixel = label
        (folder / name).write_bytes(pickle.dumps({b"data": data, b"labels": labels}))
    s = load_dataset("cifar10", root=tmp_path, classes=("cat", "dog"))  # CIFAR-10 order: cat = 3, dog = 5
    assert s.classes == ("cat", "dog")
    for ds in (s.train, s.val, s.test):
        assert torch.equal(ds.x[:, 0, 0, 0].long(), torch.where(ds.y == 0, 3, 5))
    assert len(s.test) == 2 and len(s.train) + len(s.val) == 20


def test_unknown_or_repeated_class_is_one_line(tmp_path: Path) -> None:
    write_tree(tmp_path / "train", 1)
    write_tree(tmp_path / "test", 1)
    with pytest.raises(ValueError, match="cifar10: unknown class 'kitten'; choose from class0") as err:
        load_dataset("cifar10", root=tmp_path, classes=("kitten",))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="distinct"):
        load_dataset("cifar10", root=tmp_path, classes=("class1", "class1"))


def write_tiny_imagenet(root: Path, wnids: list[str], per_class: int, val_per_class: int) -> None:
    """The official layout; red channel = 10 * class index, green = 1 for val images."""
    (root / "wnids.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for c, w in enumerate(wnids):
        (root / "train" / w / "images").mkdir(parents=True)
        (root / "train" / w / f"{w}_boxes.txt").write_text("")  # the release has one per class
        for i in range(per_class):
            a = np.full((64, 64, 3), (10 * c, 0, 0), dtype=np.uint8)
            Image.fromarray(a).save(root / "train" / w / "images" / f"{w}_{i}.JPEG", format="PNG")
    (root / "val" / "images").mkdir(parents=True)
    lines, k = [], 0
    for c, w in enumerate(wnids):
        for _ in range(val_per_class):
            a = np.full((64, 64, 3), (10 * c, 1, 0), dtype=np.uint8)
            Image.fromarray(a).save(root / "val" / "images" / f"val_{k}.JPEG", format="PNG")
            lines.append(f"val_{k}.JPEG\t{w}\t0\t0\t63\t63")
            k += 1
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines[::-1]) + "\n")  # order must not matter


def test_tinyimagenet_reads_the_official_layout(tmp_path: Path) -> None:
    wnids = ["n01443537", "n01629819", "n01641577"]
    write_tiny_imagenet(tmp_path, wnids, per_class=10, val_per_class=4)
    s = load_dataset("tinyimagenet", root=tmp_path, val_fraction=0.2)
    assert s.classes == tuple(wnids) and s.num_classes == 3 and s.in_shape == (3, 64, 64)
    assert (len(s.train), len(s.val), len(s.test)) == (24, 6, 12)
    for ds, val_flag in ((s.train, 0), (s.val, 0), (s.test, 1)):
        assert torch.equal(ds.x[:, 0, 0, 0].long(), 10 * ds.y)  # label follows the folder / annotation
        assert bool((ds.x[:, 1, 0, 0] == val_flag).all())  # test = the official (labelled) val set
    pair = load_dataset("tinyimagenet", root=tmp_path, classes=("n01641577", "n01443537"))
    assert torch.equal(pair.test.x[:, 0, 0, 0].long(), torch.where(pair.test.y == 0, 20, 0))


def test_tinyimagenet_missing_layout_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="tinyimagenet: no data at .*wnids.txt") as err:
        load_dataset("tinyimagenet", root=tmp_path)
    assert "\n" not in str(err.value)
