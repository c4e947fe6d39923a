"""Shared tiny settings for the method tests: synthetic 1x8x8 data, 128 training samples, one epoch
per phase, and one float warm-up that every end-to-end run starts from."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.config import SearchConfig
from search.warm_start import shared_warmup


@pytest.fixture(scope="session")
def methods_cfg(tmp_path_factory) -> SearchConfig:
    return SearchConfig(
        model="digits_cnn",
        dataset="synthetic",
        train_subset=128,
        target="generic",
        cost="size",
        warmup_epochs=2,
        search_epochs=1,
        finetune_epochs=1,
        batch_size=32,
        arch_lr=0.02,
        strength=0.05,
        out_dir=str(tmp_path_factory.mktemp("method-runs")),
        progress=False,
    )


@pytest.fixture(scope="session")
def warm_state(methods_cfg, tmp_path_factory) -> Path:
    """Checkpoint of the warmed-up float model (a sweep's shared warm-up)."""
    folder = tmp_path_factory.mktemp("warmup")
    return shared_warmup(methods_cfg, folder)
