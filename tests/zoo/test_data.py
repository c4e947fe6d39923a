"""Data loaders on tiny generated trees: splits, subsets, normalization, MFCCs, errors."""

from __future__ import annotations

import math
import pickle
import wave
from collections import Counter
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data import (
    DataSplits,
    InMemoryDataset,
    RandomCropFlip,
    balanced_pick,
    batches,
    dataset_names,
    load_dataset,
    stratified_split,
)
from zoo.datasets.images import CIFAR10_MEAN, CIFAR10_STD
from zoo.datasets.speech import SAMPLE_RATE, dct_matrix, mel_matrix

SHARED_CIFAR = Path(__file__).resolve().parents[2] / "../shared/data/cifar10"
CLASSES = [f"class{i}" for i in range(10)]


def ids_of(ds: InMemoryDataset) -> list[int]:
    """Image ids encoded by `write_tree` in the raw pixels: id = R + 256 * G of pixel (0, 0)."""
    return [int(r) + 256 * int(g) for r, g in zip(ds.x[:, 0, 0, 0], ds.x[:, 1, 0, 0], strict=True)]


def write_tree(folder: Path, per_class: int, start: int, size: tuple[int, int] = (32, 32)) -> None:
    """Lossless PNGs whose first pixel encodes a unique id and whose class is in the blue channel."""
    for c, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            k = start + c * per_class + i
            a = np.zeros((*size, 3), dtype=np.uint8)
            a[..., 2] = 20 * c
            a[0, 0, :2] = (k % 256, k // 256)
            Image.fromarray(a).save(folder / name / f"{i:04d}.png")


@pytest.fixture(scope="module")
def cifar_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cifar_tree")
    write_tree(root / "train", per_class=10, start=0)
    write_tree(root / "test", per_class=3, start=1000)
    return root


# ------------------------------------------------------------------------------------ generic


def test_registry_and_errors() -> None:
    assert {"digits", "cifar10", "imagefolder", "speech_commands", "synthetic"} <= set(dataset_names())
    with pytest.raises(ValueError, match="unknown data set 'nope'; known: cifar10") as err:
        load_dataset("nope")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="val_fraction"):
        load_dataset("digits", val_fraction=1.5)


def test_split_helpers_partition_and_balance() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 5)
    rest, held = stratified_split(labels, 0.2, torch.Generator().manual_seed(0))
    assert sorted(torch.cat([rest, held]).tolist()) == list(range(85))
    assert torch.bincount(labels[held]).tolist() == [10, 6, 1]
    small = balanced_pick(labels, 12, torch.Generator().manual_seed(1))
    large = balanced_pick(labels, 30, torch.Generator().manual_seed(1))
    assert torch.bincount(labels[small]).tolist() == [4, 4, 4]
    assert torch.bincount(labels[large]).tolist() == [13, 12, 5]  # class 2 is short: the others fill in
    assert set(small.tolist()) <= set(large.tolist())  # a larger subset extends a smaller one


def test_batches_cover_everything_once_and_are_seeded() -> None:
    ds = InMemoryDataset(torch.arange(10.0)[:, None], torch.arange(10))
    seen = [y for _, ys in batches(ds, 4, shuffle=True, generator=torch.Generator().manual_seed(0)) for y in ys]
    again = [y for _, ys in batches(ds, 4, shuffle=True, generator=torch.Generator().manual_seed(0)) for y in ys]
    assert sorted(int(y) for y in seen) == list(range(10)) and seen == again
    assert [len(y) for _, y in batches(ds, 4, drop_last=True)] == [4, 4]


def test_random_crop_flip_is_seeded_and_shape_preserving() -> None:
    x = torch.randn(6, 3, 8, 8)
    a = RandomCropFlip(2)(x, torch.Generator().manual_seed(0))
    b = RandomCropFlip(2)(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    flipped = RandomCropFlip(0)(x, torch.Generator().manual_seed(0))
    assert all(torch.equal(f, s) or torch.equal(f, s.flip(2)) for f, s in zip(flipped, x, strict=True))
    shifted = RandomCropFlip(2, flip=False)(x, torch.Generator().manual_seed(0))
    centre = [torch.equal(s[:, 2:6, 2:6], o[:, 2:6, 2:6]) for s, o in zip(shifted, x, strict=True)]
    assert not all(centre)  # something moved, and a crop of a zero-padded image keeps values
    assert set(shifted[0].flatten().tolist()) <= set(x[0].flatten().tolist()) | {0.0}


# ------------------------------------------------------------------------------- digits, synthetic


def test_digits_splits_are_a_stratified_normalized_partition() -> None:
    from sklearn.datasets import load_digits

    data = load_digits()
    s = load_dataset("digits", seed=0)
    assert (s.in_shape, s.num_classes) == ((1, 8, 8), 10) and s.train.x.shape[1:] == (1, 8, 8)
    assert (len(s.train), len(s.val), len(s.test)) == (1079, 359, 359)  # 60/20/20
    assert abs(s.train.x.mean().item()) < 1e-5 and abs(s.train.x.std().item() - 1) < 1e-5
    # the three splits together are exactly the data set (normalization is affine: undo it by min/max)
    x = torch.cat([s.train.x, s.val.x, s.test.x]).flatten(1)
    raw = torch.round((x - x.min()) / (x.max() - x.min()) * 16).long()
    assert Counter(map(tuple, raw.tolist())) == Counter(map(tuple, data.data.astype(int).tolist()))
    for ds in (s.train, s.val, s.test):
        share = torch.bincount(ds.y, minlength=10) / len(ds)
        assert torch.allclose(share, torch.full((10,), 0.1), atol=0.015)
    assert not torch.equal(load_dataset("digits", seed=1).test.x, s.test.x)
    assert torch.equal(load_dataset("digits", seed=0).test.x, s.test.x)
    assert torch.bincount(load_dataset("digits", train_subset=100).train.y).tolist() == [10] * 10
    with pytest.raises(FrozenInstanceError):
        s.name = "other"  # type: ignore[misc]


def test_synthetic_is_learnable_and_shaped() -> None:
    s = load_dataset("synthetic", seed=3, in_shape=(2, 16), num_classes=5)
    assert isinstance(s, DataSplits) and s.in_shape == (2, 16) and s.train.x.shape[1:] == (2, 16)
    means = torch.stack([s.train.x[s.train.y == c].mean(0) for c in range(5)]).flatten(1)
    pred = torch.cdist(s.test.x.flatten(1), means).argmin(1)
    assert (pred == s.test.y).float().mean() > 0.6  # chance is 0.2


# ------------------------------------------------------------------------------------- images


def test_cifar10_imagefolder_splits_subsets_and_normalization(cifar_tree: Path) -> None:
    s = load_dataset("cifar10", root=cifar_tree, seed=0, val_fraction=0.2, train_subset=30)
    assert s.in_shape == (3, 32, 32) and s.num_classes == 10 and s.classes == tuple(CLASSES)
    assert (len(s.train), len(s.val), len(s.test)) == (30, 20, 30)
    assert s.train.x.dtype == torch.uint8
    assert torch.bincount(s.train.y).tolist() == [3] * 10 and torch.bincount(s.val.y).tolist() == [2] * 10
    assert torch.equal(s.train.y, s.train.x[:, 2, 5, 5] // 20)  # labels follow the folders
    assert not set(ids_of(s.train)) & set(ids_of(s.val))
    assert set(ids_of(s.test)) == set(range(1000, 1030))
    x, _ = s.train.tensors()
    blue = s.train.x[0, 2, 5, 5].item() / 255
    assert x[0, 2, 5, 5].item() == pytest.approx((blue - CIFAR10_MEAN[2]) / CIFAR10_STD[2], abs=1e-5)
    again = load_dataset("cifar10", root=cifar_tree, seed=0, val_fraction=0.2, train_subset=30)
    more = load_dataset("cifar10", root=cifar_tree, seed=0, val_fraction=0.2, train_subset=50)
    other = load_dataset("cifar10", root=cifar_tree, seed=1, val_fraction=0.2, train_subset=30)
    assert ids_of(again.train) == ids_of(s.train) and ids_of(more.val) == ids_of(s.val)
    assert set(ids_of(s.train)) < set(ids_of(more.train))
    assert ids_of(other.val) != ids_of(s.val)
    assert isinstance(s.augment, RandomCropFlip)
    small = load_dataset("cifar10", root=cifar_tree, val_subset=10, test_subset=10)
    assert torch.bincount(small.test.y).tolist() == [1] * 10 and len(small.val) == 10


def test_cifar10_binary_release(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [*((f"data_batch_{i}", 20) for i in range(1, 6)), ("test_batch", 10)]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": [k % 10 for k in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": CLASSES}))
    s = load_dataset("cifar10", root=tmp_path, train_subset=40)
    assert (len(s.train), len(s.val), len(s.test)) == (40, 10, 10)
    assert s.classes == tuple(CLASSES) and s.train.x.shape[1:] == (3, 32, 32)
    assert torch.bincount(s.train.y).tolist() == [4] * 10
    raw = pickle.loads((folder / "test_batch").read_bytes())[b"data"].reshape(-1, 3, 32, 32)
    assert np.array_equal(s.test.x.numpy(), raw)


def test_missing_cifar_root_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cifar10: no data at .*missing.*download") as err:
        load_dataset("cifar10", root=tmp_path / "missing")
    assert "\n" not in str(err.value)


def test_imagefolder_single_tree_resized(tmp_path: Path) -> None:
    write_tree(tmp_path / "a", per_class=5, start=0, size=(12, 10))
    for name in CLASSES[:2]:  # a different size: only accepted with size=...
        Image.fromarray(np.zeros((9, 9, 3), dtype=np.uint8)).save(tmp_path / "a" / name / "odd.png")
    s = load_dataset("imagefolder", root=tmp_path / "a", size=8, test_fraction=0.2, val_fraction=0.25)
    assert s.in_shape == (3, 8, 8) and s.num_classes == 10
    assert len(s.train) + len(s.val) + len(s.test) == 52 and len(s.test) == 10
    x, _ = s.train.tensors()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    gray = load_dataset("imagefolder", root=tmp_path / "a", size=(6, 4), grayscale=True)
    assert gray.in_shape == (1, 6, 4)
    with pytest.raises(ValueError, match="size"):
        load_dataset("imagefolder", root=tmp_path / "a")
    with pytest.raises(ValueError, match="imagefolder: no data at"):
        load_dataset("imagefolder", root=tmp_path / "missing")


@pytest.mark.skipif(not SHARED_CIFAR.is_dir(), reason="shared CIFAR-10 copy not present")
def test_shared_cifar10_subset_decodes_only_what_it_needs() -> None:
    s = load_dataset("cifar10", train_subset=200, val_subset=50, test_subset=50, seed=0)
    assert (len(s.train), len(s.val), len(s.test)) == (200, 50, 50)
    assert torch.bincount(s.train.y).tolist() == [20] * 10
    assert s.classes[:3] == ("airplane", "automobile", "bird")
    x, _ = s.train.tensors()
    assert x.mean().abs() < 0.2 and (x.std() - 1).abs() < 0.2


# ------------------------------------------------------------------------------------- speech


def write_wav(path: Path, seconds: float, freq: float, rate: int = SAMPLE_RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * np.sin(2 * math.pi * freq * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


@pytest.fixture(scope="module")
def speech_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("speech")
    for word, freq in (("yes", 300.0), ("no", 800.0), ("cat", 1500.0), ("dog", 2500.0)):
        for i in range(4):
            write_wav(root / word / f"s{i}_nohash_0.wav", 0.5 if i % 2 else 1.2, freq)
    write_wav(root / "_background_noise_" / "hum.wav", 10.3, 60.0)
    (root / "validation_list.txt").write_text("yes/s0_nohash_0.wav\ncat/s0_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("no/s1_nohash_0.wav\ndog/s1_nohash_0.wav\n")
    return root


def test_speech_commands_features_labels_and_splits(speech_tree: Path) -> None:
    s = load_dataset("speech_commands", root=speech_tree)
    assert s.in_shape == (1, 49, 10) and s.num_classes == 12 and s.train.x.shape[1:] == (1, 49, 10)
    assert s.classes[0] == "yes" and s.classes[10:] == ("_silence_", "_unknown_")
    count = lambda ds: torch.bincount(ds.y, minlength=12).tolist()  # noqa: E731
    # 10 one-second noise chunks -> 8 train / 1 val / 1 test silence clips
    assert count(s.train) == [3, 3] + [0] * 8 + [8, 6]
    assert count(s.val) == [1, 0] + [0] * 8 + [1, 1]
    assert count(s.test) == [0, 1] + [0] * 8 + [1, 1]
    assert abs(s.train.x.mean().item()) < 1e-5 and torch.isfinite(s.train.x).all()
    # different tones give different features
    yes, no = s.train.x[s.train.y == 0].mean(0), s.train.x[s.train.y == 1].mean(0)
    assert (yes - no).abs().mean() > 0.1
    capped = load_dataset("speech_commands", root=speech_tree, unknown_fraction=0.25)
    assert count(capped.train)[11] == 4  # 14 known clips: 4 unknown is <= 25% of the split
    assert len(load_dataset("speech_commands", root=speech_tree, train_subset=6).train) == 6


def test_speech_commands_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speech_commands: no data at .*validation_list") as err:
        load_dataset("speech_commands", root=tmp_path / "missing")
    assert "\n" not in str(err.value)
    write_wav(tmp_path / "yes" / "a.wav", 1.0, 440.0, rate=8000)
    with pytest.raises(ValueError, match="16 kHz"):
        load_dataset("speech_commands", root=tmp_path)


def test_mel_and_dct_match_tensorflow_conventions() -> None:
    mel = mel_matrix(257)  # 512-point FFT of 30 ms frames, 40 bands over 20..4000 Hz
    assert mel.shape == (257, 40) and (mel[0] == 0).all()  # DC bin excluded, as tf.signal does
    hz = torch.linspace(0, SAMPLE_RATE / 2, 257)
    centres = hz[mel.argmax(0)]
    assert (centres.diff() >= 0).all() and centres[0] < 100 and 3500 < centres[-1] < 4000
    assert mel[hz > 4100].abs().sum() == 0
    d = dct_matrix(40, 40)
    gram = d.T @ d
    assert torch.allclose(gram, torch.diag(torch.tensor([2.0] + [1.0] * 39)), atol=1e-4)


class _Planted:
    def __reduce__(self):
        return (exec, ("raise SystemExit('a planted pickle ran')",))


def test_cifar10_binary_release_refuses_a_planted_pickle(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps({b"data": _Planted(), b"labels": [0]}))
    with pytest.raises(ValueError, match="is not a CIFAR-10 batch file .refusing to load builtins.exec"):
        load_dataset("cifar10", root=tmp_path)
