"""Tiny end-to-end settings: synthetic 1x8x8 data, a few epochs, no progress bars."""

from __future__ import annotations

import pytest

from search.config import SearchConfig


@pytest.fixture
def tiny_cfg(tmp_path) -> SearchConfig:
    return SearchConfig(
        model="digits_cnn",
        dataset="synthetic",
        target="generic",
        cost="size",
        warmup_epochs=2,
        search_epochs=3,
        finetune_epochs=1,
        batch_size=64,
        arch_lr=0.02,
        strength=0.05,
        out_dir=str(tmp_path / "runs"),
        progress=False,
    )
