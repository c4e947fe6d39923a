"""Data sets held in memory, a loader registry, batch augmentation and fast batching.

A 2-core machine cannot afford DataLoader workers or per-epoch JPEG decoding, so every data set is
decoded once into tensors and batches are cut by indexing those tensors (`batches`). Loaders live in
`zoo/datasets/` and register themselves by name, like the model zoo:

    splits = load_dataset("cifar10", train_subset=5000, seed=0)
    g = torch.Generator().manual_seed(0)
    for x, y in batches(splits.train, 128, shuffle=True, generator=g, augment=splits.augment):
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

# The project root's sibling holds shared copies of data sets for machines without internet.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CACHE_DIR = Path("~/.cache/bitgate").expanduser()


class InMemoryDataset(Dataset):
    """Inputs and int64 labels in memory; uint8 inputs are scaled to [0, 1] and normalized per channel on read.

    Keeping images as uint8 quarters the memory (CIFAR-10: 184 MB instead of 737 MB) at the price of
    one cheap float conversion per batch. Float inputs are returned as stored (already normalized).
    """

    def __init__(
        self, x: Tensor, y: Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"inputs ({len(x)}) and labels ({len(y)}) differ in length")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.x, self.y = x, y.long()
        self.mean = None if mean is None else tuple(float(m) for m in mean)
        self.std = None if std is None else tuple(float(s) for s in std)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self._prepare(self.x[i : i + 1])[0], self.y[i]

    def batch(self, idx: Tensor | slice) -> tuple[Tensor, Tensor]:
        """Normalized float inputs and labels at ``idx`` (one tensor index, no Python loop)."""
        if isinstance(idx, Tensor):
            idx = idx.to(self.y.device)
        return self._prepare(self.x[idx]), self.y[idx]

    def iter_batches(self, order: Tensor, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches at consecutive slices of ``order`` (an index tensor on any device)."""
        order = order.to(self.y.device)
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size])

    @property
    def device(self) -> torch.device:
        return self.y.device

    @property
    def nbytes(self) -> int:
        return self.x.nbytes + self.y.nbytes

    def to(self, device: torch.device | str) -> InMemoryDataset:
        """The same data held on ``device`` (a GPU's memory), so batches never cross the bus."""
        return InMemoryDataset(self.x.to(device), self.y.to(device), self.mean, self.std)

    def tensors(self) -> tuple[Tensor, Tensor]:
        """All inputs (normalized float) and labels: for calibration batches and small-set evaluation."""
        return self.batch(slice(None))

    def subset(self, idx: Tensor) -> InMemoryDataset:
        return InMemoryDataset(self.x[idx], self.y[idx], self.mean, self.std)

    def _prepare(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        else:
            x = x.float()
        if self.mean is not None:
            mean, std = self._statistics(x.device, x.dim())
            x = (x - mean) / std
        return x

    def _statistics(self, device: torch.device, dims: int) -> tuple[Tensor, Tensor]:
        """mean and std shaped for a batch on `device`, made once (not copied from the host per batch)."""
        cache = self.__dict__.setdefault("_stats", {})
        if (device, dims) not in cache:
            shape = (1, -1) + (1,) * (dims - 2)
            cache[(device, dims)] = (
                torch.tensor(self.mean, device=device).view(shape),
                torch.tensor(self.std, device=device).view(shape),
            )
        return cache[(device, dims)]


def identity(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """No augmentation (every data set except CIFAR-10)."""
    return x


@dataclass(frozen=True)
class RandomCropFlip:
    """Random crop after zero padding + horizontal flip on a whole (N, C, H, W) batch, seeded.

    Applied to normalized batches, so the padding is the data set's mean colour (0 after normalization).
    Offsets and flips are drawn where the generator lives: a run's generator is on its device (see
    search.context.epoch_generator), so a GPU batch is augmented without a copy from the host; on the
    CPU the draws are the ones a CPU generator always made.
    """

    padding: int = 4
    flip: bool = True

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, c, h, w = x.shape
        p, dev = self.padding, x.device
        draw = generator.device if generator is not None else dev
        if p:
            xp = F.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=draw).to(dev)
            dx = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=draw).to(dev)
            rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
            cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]
            batch = torch.arange(n, device=dev)[:, None, None, None]
            x = xp[batch, torch.arange(c, device=dev)[None, :, None, None], rows, cols]
        if self.flip:
            mask = (torch.rand(n, generator=generator, device=draw) < 0.5).to(dev)
            x = torch.where(mask[:, None, None, None], x.flip(3), x)
        return x


Augment = Callable[[Tensor, "torch.Generator | None"], Tensor]


@dataclass(frozen=True)
class DataSplits:
    """Train/validation/test sets of one data set, plus what a model needs to know about them."""

    name: str
    train: InMemoryDataset
    val: InMemoryDataset
    test: InMemoryDataset
    num_classes: int
    in_shape: tuple[int, ...]
    classes: tuple[str, ...] = ()
    augment: Augment = field(default=identity)

    def to(self, device: torch.device | str) -> DataSplits:
        """Every split held on ``device`` (see search.loader.place for sets too large for it)."""
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))


def batches(
    dataset: InMemoryDataset,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    augment: Augment | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (inputs, labels) batches on the data set's device; seeded shuffling via ``generator``.

    The order is drawn where the generator lives (a CPU generator: the CPU) and moved with the batch.
    """
    n = len(dataset)
    draw = generator.device if generator is not None else torch.device("cpu")
    order = torch.randperm(n, generator=generator, device=draw) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for x, y in dataset.iter_batches(order[:stop], batch_size):
        yield (augment(x, generator) if augment is not None else x), y


# ----------------------------------------------------------------------------------- registry

LoaderFn = Callable[..., DataSplits]
DATASETS: dict[str, LoaderFn] = {}


def register_dataset(name: str) -> Callable[[LoaderFn], LoaderFn]:
    """Register ``fn(*, root, seed, val_fraction, train_subset, download, **kw) -> DataSplits``."""

    def deco(fn: LoaderFn) -> LoaderFn:
        if name in DATASETS:
            raise KeyError(f"data set {name!r} already registered")
        DATASETS[name] = fn
        return fn

    return deco


def dataset_names() -> list[str]:
    return sorted(DATASETS)


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    seed: int = 0,
    val_fraction: float | None = None,
    train_subset: int | None = None,
    download: bool = False,
    **kw,
) -> DataSplits:
    """Load data set ``name`` into memory, split train/val/test reproducibly from ``seed``.

    ``val_fraction`` is the share of the training pool held out for validation (None: the data set's
    default, 0.25 for digits so that it splits 60/20/20, 0.1 otherwise). ``train_subset=N`` keeps a seeded,
    class-balanced N of the remaining training examples. Extra keywords go to the loader.
    """
    if name not in dataset_names():
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(dataset_names())}")
    if val_fraction is not None and not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if train_subset is not None and train_subset <= 0:
        raise ValueError(f"train_subset must be positive, got {train_subset}")
    root = None if root is None else Path(root).expanduser()
    return DATASETS[name](
        root=root, seed=seed, val_fraction=val_fraction, train_subset=train_subset, download=download, **kw
    )


# ---------------------------------------------------------------------------- split helpers


def balanced_pick(labels: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Indices of a seeded class-balanced sample of ``n`` examples.

    Classes too small for an equal share give all they have and the others share the rest (water
    filling, smallest class first, so rounding leftovers go to the largest classes). Each class is
    shuffled once and read from the front, so a larger ``n`` extends a smaller one.
    """
    classes = torch.unique(labels)
    per_class = [torch.nonzero(labels == c).flatten() for c in classes]
    per_class = [idx[torch.randperm(len(idx), generator=generator)] for idx in per_class]
    remaining, left = min(n, len(labels)), len(classes)
    quota = [0] * len(classes)
    for i in sorted(range(len(classes)), key=lambda i: len(per_class[i])):
        quota[i] = min(len(per_class[i]), remaining // left)
        remaining, left = remaining - quota[i], left - 1
    picked = [idx[:q] for idx, q in zip(per_class, quota, strict=True)]
    return torch.sort(torch.cat(picked)).values if picked else torch.zeros(0, dtype=torch.long)


def stratified_split(labels: Tensor, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Split indices into (rest, held_out) with ``fraction`` of every class held out (rounded per class)."""
    held = []
    for c in torch.unique(labels):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        held.append(idx[: int(round(fraction * len(idx)))])
    held_out = torch.sort(torch.cat(held)).values if held else torch.zeros(0, dtype=torch.long)
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[held_out] = False
    return torch.nonzero(mask).flatten(), held_out


def missing_root(name: str, root: Path, expected: str) -> ValueError:
    """The one-line error every loader raises for a missing or malformed data folder."""
    return ValueError(
        f"{name}: no data at {root} (expected {expected}); pass root=... or download=True (CLI: --download) to fetch it"
    )
