"""The full default sweep on digits (minutes): the joint front beats uniform precision. Run with -m slow."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.pareto import collect
from search.config import load_config
from search.sweep import SweepConfig, sweep

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_joint_front_matches_w8_with_much_less_memory(tmp_path):
    base = load_config(
        ROOT / "configs" / "digits_stm32h7.toml",
        ["target=generic", "cost=size", f"out_dir={tmp_path}", "progress=false"],
    )
    spec = SweepConfig(methods=("joint", "uniform"), strengths=(0.01, 0.03, 0.1, 0.3), uniform_bits=(8, 2))
    folder, results = sweep(base, spec)
    df = collect([folder])
    w8 = df[df["method"] == "uniform-w8"].iloc[0]
    w2 = df[df["method"] == "uniform-w2"].iloc[0]
    joint = df[df["method"] == "joint"]
    near_w8 = joint[joint["test_acc"] >= w8["test_acc"] - 0.01]
    assert len(near_w8) and near_w8["cost:size"].min() < 0.6 * w8["cost:size"]
    cheap = joint[joint["cost:size"] <= w2["cost:size"]]
    assert len(cheap) and cheap["test_acc"].max() >= w2["test_acc"]
    assert sorted(joint["strength"]) == [0.01, 0.03, 0.1, 0.3]
