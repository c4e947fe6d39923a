"""The shared float warm-up: what its checkpoint holds is what every sweep point starts from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from search.config import SearchConfig
from search.run import load_data
from search.rundir import Checkpoints
from search.train import evaluate
from search.warm_start import shared_warmup
from zoo.models import create_model


def test_an_early_stopped_warmup_checkpoint_holds_the_best_epoch(tmp_path) -> None:
    """patience + select_best: the run's metrics and the checkpoint a sweep's points load are the
    kept (best-validation) epoch's weights, not the last epoch's."""
    cfg = SearchConfig(
        model="digits_cnn",
        dataset="synthetic",
        target="generic",
        cost="size",
        warmup_epochs=40,
        batch_size=64,
        lr=0.05,
        patience=3,
        select_best=True,
        out_dir=str(tmp_path),
        progress=False,
    )
    folder = tmp_path / "warm"
    folder.mkdir()
    ckpt = shared_warmup(cfg, folder)
    val = pd.read_csv(folder / "history.csv")["val_acc"]
    # lr 0.05 makes the validation accuracy noisy: seeds 0-4 stop after 5-11 epochs, far inside 40
    assert len(val) < cfg.warmup_epochs  # stopped early ...
    assert val.idxmax() == len(val) - 1 - cfg.patience  # ... `patience` epochs after the best, not the last
    data = load_data(cfg)
    model = create_model(cfg.model, data.num_classes, data.in_shape)
    model.load_state_dict(Checkpoints(Path(ckpt).parent).load_state(Path(ckpt).stem, "model"))
    kept = evaluate(model, data.val)
    assert kept == pytest.approx(val.max())
    assert json.loads((folder / "metrics.json").read_text())["float_val_acc"] == pytest.approx(kept)
