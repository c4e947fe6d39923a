"""model.pt of every method rebuilds (weights_only) into the network that was evaluated: same test accuracy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from search.methods import method_names
from search.model_file import load_model
from search.run import load_data, run
from search.train import evaluate


@pytest.mark.parametrize("method", [m for m in method_names() if m != "joint-path"])  # path: tests/search/test_path.py
def test_model_pt_of_every_method_computes_what_was_measured(tmp_path, method, one_epoch_cfg):
    cfg = one_epoch_cfg(tmp_path, name="r", uniform_bits=4, method=method)
    if method == "twonn-cluster":
        cfg = replace(cfg, method_options=(("clusters", 4.0),))
    metrics = run(cfg)
    model = load_model(Path(tmp_path) / "r")
    assert evaluate(model, load_data(cfg).test) == metrics["test_acc"]


@pytest.mark.parametrize(
    "settings",
    [
        {"method": "joint", "exclude": ("features.0",)},  # issue 17: float layers stay float in the rebuild
        {"method": "importance", "method_options": (("pruning", "ksigma"),), "cost": "size_sparse"},  # issue 14 masks
    ],
    ids=["exclude", "element-masks"],
)
def test_model_pt_of_merged_features_rebuilds(tmp_path, settings, one_epoch_cfg):
    cfg = one_epoch_cfg(tmp_path, name="r")
    metrics = run(replace(cfg, **settings))
    model = load_model(Path(tmp_path) / "r")
    assert evaluate(model, load_data(cfg).test) == metrics["test_acc"]
