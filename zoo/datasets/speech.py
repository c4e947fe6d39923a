"""Google Speech Commands v2 as 49x10 MFCCs for the MLPerf Tiny keyword-spotting task (12 classes).

Feature pipeline of the MLPerf Tiny KWS reference (which uses TensorFlow's tf.signal), rebuilt in torch
so that neither TensorFlow nor torchaudio is needed: 16 kHz clip padded/cropped to 1 s, scaled to peak
1, frames of 30 ms every 20 ms (49 frames), periodic Hann window, |rFFT| with the next power-of-two
length, 40 HTK-mel triangles from 20 to 4000 Hz (tf.signal.linear_to_mel_weight_matrix), log(x + 1e-6),
DCT-II scaled as tf.signal.mfccs_from_log_mel_spectrograms, first 10 coefficients.
(Hello Edge, Zhang et al. 2017, used 40 ms windows; ``window_ms=40`` also gives 49 frames.)
"""

from __future__ import annotations

import math
import tarfile
import urllib.request
import wave
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zoo.data import (
    CACHE_DIR,
    SHARED_DATA,
    DataSplits,
    InMemoryDataset,
    balanced_pick,
    missing_root,
    register_dataset,
    stratified_split,
)

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
CLASSES = (*WORDS, "_silence_", "_unknown_")
SILENCE, UNKNOWN = len(WORDS), len(WORDS) + 1
NOISE_DIR = "_background_noise_"
URL = "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
SAMPLE_RATE = 16_000

_FEATURES: dict[tuple, Tensor] = {}  # (clip key, feature settings) -> (49, 10) MFCC, kept across loads


def read_wav(path: Path) -> np.ndarray:
    """16 kHz mono int16 samples as float32 in [-1, 1) (stdlib `wave`, no audio library needed)."""
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(
                f"{path}: need 16 kHz mono 16-bit PCM, got {w.getframerate()} Hz, "
                f"{w.getnchannels()} channel(s), {8 * w.getsampwidth()} bit"
            )
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def mel_matrix(
    n_bins: int, n_mels: int = 40, low_hz: float = 20.0, high_hz: float = 4000.0, sample_rate: int = SAMPLE_RATE
) -> Tensor:
    """(n_bins, n_mels) triangular HTK-mel weights, as tf.signal.linear_to_mel_weight_matrix (DC bin zeroed)."""

    def hz_to_mel(f: Tensor) -> Tensor:
        return 1127.0 * torch.log1p(f / 700.0)

    freqs = torch.linspace(0.0, sample_rate / 2, n_bins, dtype=torch.float64)[1:]
    spec_mel = hz_to_mel(freqs)[:, None]
    edges = torch.linspace(
        hz_to_mel(torch.tensor(low_hz, dtype=torch.float64)).item(),
        hz_to_mel(torch.tensor(high_hz, dtype=torch.float64)).item(),
        n_mels + 2,
        dtype=torch.float64,
    )
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = torch.clamp(
        torch.minimum((spec_mel - lower) / (center - lower), (upper - spec_mel) / (upper - center)), min=0.0
    )
    return torch.cat([torch.zeros(1, n_mels, dtype=torch.float64), weights]).float()


def dct_matrix(n_in: int, n_out: int) -> Tensor:
    """(n_in, n_out) DCT-II matrix scaled by sqrt(2 / n_in), as tf.signal.mfccs_from_log_mel_spectrograms."""
    n = torch.arange(n_in, dtype=torch.float64)[:, None]
    k = torch.arange(n_out, dtype=torch.float64)[None, :]
    return (math.sqrt(2.0 / n_in) * torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in))).float()


def mfcc(clips: Tensor, window_ms: float = 30.0, hop_ms: float = 20.0, n_mels: int = 40, n_mfcc: int = 10) -> Tensor:
    """(N, samples) waveforms -> (N, frames, n_mfcc) MFCCs; frames = 1 + (samples - window) // hop."""
    win, hop = round(SAMPLE_RATE * window_ms / 1000), round(SAMPLE_RATE * hop_ms / 1000)
    n_fft = 1 << (win - 1).bit_length()
    frames = clips.unfold(-1, win, hop) * torch.hann_window(win, periodic=True)
    spec = torch.fft.rfft(frames, n=n_fft).abs()
    log_mel = torch.log(spec @ mel_matrix(n_fft // 2 + 1, n_mels) + 1e-6)
    return log_mel @ dct_matrix(n_mels, n_mfcc)


def _frames(window_ms: float, hop_ms: float) -> int:
    win, hop = round(SAMPLE_RATE * window_ms / 1000), round(SAMPLE_RATE * hop_ms / 1000)
    return 1 + (SAMPLE_RATE - win) // hop


def _fit(x: np.ndarray, peak_normalize: bool) -> np.ndarray:
    """Pad with zeros or crop to exactly one second; optionally scale to peak 1 (as the MLPerf reference)."""
    x = np.pad(x[:SAMPLE_RATE], (0, max(SAMPLE_RATE - len(x), 0)))
    peak = np.abs(x).max()
    return x / peak if peak_normalize and peak > 0 else x


def _features(clips: list[tuple[Path, int]], settings: tuple) -> Tensor:
    """MFCCs of (wav path, one-second chunk index) clips, computed in batches and cached in memory.

    ``settings`` = (window_ms, hop_ms, n_mels, n_mfcc, peak_normalize) is part of the cache key.
    """
    todo = [c for c in clips if (c, settings) not in _FEATURES]
    for start in range(0, len(todo), 2048):
        chunk, waves, last = todo[start : start + 2048], [], (None, None)
        for path, k in chunk:
            last = last if last[0] == path else (path, read_wav(path))  # noise files give many chunks
            waves.append(_fit(last[1][k * SAMPLE_RATE :], settings[4]))
        feats = mfcc(torch.from_numpy(np.stack(waves)), *settings[:4])
        _FEATURES.update({(c, settings): f for c, f in zip(chunk, feats, strict=True)})
    if not clips:
        return torch.zeros((0, 1, _frames(settings[0], settings[1]), settings[3]))
    return torch.stack([_FEATURES[(c, settings)] for c in clips])[:, None]


def _scan(root: Path) -> dict[str, list[tuple[tuple[Path, int], int]]]:
    """Clips per split, each ((path, chunk), label): official lists, else everything in 'train'."""
    lists = {
        s: set((root / f"{s}_list.txt").read_text().split()) if (root / f"{s}_list.txt").exists() else set()
        for s in ("validation", "testing")
    }
    out: dict[str, list] = {"train": [], "validation": [], "testing": []}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name != NOISE_DIR):
        label = WORDS.index(d.name) if d.name in WORDS else SILENCE if d.name == "_silence_" else UNKNOWN
        for f in sorted(d.glob("*.wav")):
            rel = f"{d.name}/{f.name}"
            split = "validation" if rel in lists["validation"] else "testing" if rel in lists["testing"] else "train"
            out[split].append(((f, 0), label))
    return out


def _download(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "speech_commands_v0.02.tar.gz"
    urllib.request.urlretrieve(URL, archive.with_suffix(".part"))
    archive.with_suffix(".part").rename(archive)
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")  # refuses absolute paths and links out of root
    archive.unlink()


@register_dataset("speech_commands")
def load_speech_commands(
    *,
    root: Path | None = None,
    seed: int = 0,
    val_fraction: float | None = None,
    train_subset: int | None = None,
    download: bool = False,
    test_fraction: float = 0.1,
    unknown_fraction: float | None = None,
    window_ms: float = 30.0,
    peak_normalize: bool = True,
    normalize: bool = True,
) -> DataSplits:
    """Speech Commands v2 (``root/<word>/*.wav`` + validation_list.txt / testing_list.txt) as (1, 49, 10) MFCCs.

    The ten keywords are classes 0-9; every other word is ``_unknown_``; ``_silence_`` are one-second
    chunks of ``_background_noise_/*.wav`` (split seeded 80/10/10) plus any ``_silence_/`` folder (the
    test-set archive layout). The official lists define val/test; without them, a stratified seeded split
    (``val_fraction`` default 0.1, ``test_fraction``) is used and ``val_fraction`` otherwise has no effect.
    ``unknown_fraction`` caps ``_unknown_`` to that share of each split (None keeps all).
    Features are standardized with the training mean/std (one scalar) when ``normalize``.
    """
    root = (
        (
            SHARED_DATA / "speech_commands"
            if (SHARED_DATA / "speech_commands").is_dir()
            else CACHE_DIR / "speech_commands"
        )
        if root is None
        else root
    )
    if not root.is_dir() and download:
        _download(root)
    if not root.is_dir() or not any(root.glob("*/*.wav")):
        raise missing_root("speech_commands", root, "<word>/*.wav plus validation_list.txt and testing_list.txt")
    g = torch.Generator().manual_seed(seed)
    splits = _scan(root)
    if not splits["validation"] and not splits["testing"]:  # no official lists: stratified seeded split
        pool = splits["train"]
        labels = torch.tensor([lab for _, lab in pool])
        rest, test = stratified_split(labels, test_fraction, g)
        train, val = stratified_split(labels[rest], 0.1 if val_fraction is None else val_fraction, g)
        splits = {
            "train": [pool[i] for i in rest[train]],
            "validation": [pool[i] for i in rest[val]],
            "testing": [pool[i] for i in test],
        }
    noise = [(f, k) for f in sorted((root / NOISE_DIR).glob("*.wav")) for k in range(len(read_wav(f)) // SAMPLE_RATE)]
    order = torch.randperm(len(noise), generator=g).tolist()
    n_val, n_test = round(0.1 * len(noise)), round(0.1 * len(noise))
    for name, part in (
        ("validation", order[:n_val]),
        ("testing", order[n_val : n_val + n_test]),
        ("train", order[n_val + n_test :]),
    ):
        splits[name] += [(noise[i], SILENCE) for i in sorted(part)]
    if unknown_fraction is not None:
        splits = {k: _cap_unknown(v, unknown_fraction, g) for k, v in splits.items()}
    if train_subset is not None:
        labels = torch.tensor([lab for _, lab in splits["train"]])
        splits["train"] = [splits["train"][i] for i in balanced_pick(labels, train_subset, g).tolist()]
    settings = (window_ms, 20.0, 40, 10, peak_normalize)
    data = {}
    for name, items in splits.items():
        x = _features([c for c, _ in items], settings)
        data[name] = (x, torch.tensor([lab for _, lab in items], dtype=torch.long))
    if normalize and len(data["train"][0]):
        mean, std = data["train"][0].mean(), data["train"][0].std().clamp_min(1e-6)
        data = {k: ((x - mean) / std, y) for k, (x, y) in data.items()}
    train, val, test = (InMemoryDataset(*data[k]) for k in ("train", "validation", "testing"))
    return DataSplits(
        name="speech_commands",
        train=train,
        val=val,
        test=test,
        num_classes=len(CLASSES),
        in_shape=(1, _frames(window_ms, 20.0), 10),
        classes=CLASSES,
    )


def _cap_unknown(items: list, fraction: float, g: torch.Generator) -> list:
    """Keep a seeded sample of _unknown_ clips so that they are at most ``fraction`` of the split."""
    known = [it for it in items if it[1] != UNKNOWN]
    unknown = [it for it in items if it[1] == UNKNOWN]
    keep = min(len(unknown), int(fraction * len(known) / max(1.0 - fraction, 1e-9)))
    picked = sorted(torch.randperm(len(unknown), generator=g)[:keep].tolist())
    return known + [unknown[i] for i in picked]
