"""What the commands print: one kB convention in `bitgate targets`, optional TensorBoard scalars."""

from __future__ import annotations

import importlib.util

import pytest
from reliability_helpers import tiny_args

from search.config import parse_quantity


def test_targets_says_which_kilobyte_and_it_parses_back(cli):
    result = cli("targets")
    assert result.code == 0
    assert "1 KiB = 1024 B" in result.out
    line = next(line for line in result.out.splitlines() if line.startswith("stm32h7"))
    assert "2 MiB" in line and "1 MiB" in line  # 2,097,152 B Flash, 1,048,576 B RAM
    assert parse_quantity("2MiB") == 2_097_152 and parse_quantity("512KiB") == 524_288
    assert parse_quantity("512kB") == 512_000


def test_tensorboard_without_the_package_is_refused_up_front(cli, tmp_path):
    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    out = tmp_path / "runs"
    assert "pip install tensorboard" in cli("search", *tiny_args(out, "tensorboard=true")).one_line_error()
    assert not out.exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_scalars_beside_history(cli, tmp_path):
    out = tmp_path / "runs"
    assert cli("search", *tiny_args(out, "tensorboard=true", "name=r")).code == 0
    assert list((out / "r" / "tensorboard").glob("events.out.tfevents.*"))


def test_search_prints_the_run_folder_first(cli, tmp_path):
    out = tmp_path / "runs"
    result = cli("search", *tiny_args(out, "name=r", "finetune_epochs=0", "search_epochs=1"))
    assert result.code == 0
    assert result.out.splitlines()[0].endswith(f"run folder: {out / 'r'}")
