"""exclude= and keep_channels=: module paths from the CLI reach the supernet of every run; a wrong path
fails before anything is written; metrics.json lists the layers that lost the pruning option."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bitgate.cli import main
from search.config import ConfigError, load_config
from search.run import run


def test_paths_parse_from_the_command_line_and_toml(tmp_path) -> None:
    cfg = load_config(overrides=["exclude=features.0,fc", "keep_channels=features.3"])
    assert cfg.exclude == ("features.0", "fc") and cfg.keep_channels == ("features.3",)
    toml = tmp_path / "c.toml"
    toml.write_text('exclude = ["features.0", "fc"]\n')
    assert load_config(toml).exclude == ("features.0", "fc")
    assert load_config().exclude == ()


def test_a_run_keeps_excluded_layers_out_and_reports_kept_channels(tiny_cfg) -> None:
    cfg = replace(
        tiny_cfg,
        warmup_epochs=0,
        search_epochs=1,
        finetune_epochs=0,
        exclude=("features.0",),
        keep_channels=("features.3",),
    )
    metrics = run(cfg)
    (folder,) = [p for p in Path(cfg.out_dir).iterdir() if p.is_dir()]
    arch = json.loads((folder / "arch.json").read_text())
    assert "features.0" not in json.dumps(arch["layers"]) and "features.3" in arch["layers"]
    assert all(b > 0 for b in arch["layers"]["features.3"]["weight_bits"])
    assert {"layer": "features.3", "reason": "layer 'features.3' is listed in keep_channels"} in metrics[
        "bits_only_layers"
    ]
    assert json.loads((folder / "metrics.json").read_text())["bits_only_layers"] == metrics["bits_only_layers"]


def test_an_unknown_path_fails_before_a_run_folder_exists(tiny_cfg, capsys) -> None:
    with pytest.raises(ConfigError, match="exclude names 'features.99', which is not a module of"):
        run(replace(tiny_cfg, exclude=("features.99",)))
    assert not Path(tiny_cfg.out_dir).exists() or not any(Path(tiny_cfg.out_dir).iterdir())
    argv = [
        "search",
        "--set",
        "dataset=synthetic",
        "--set",
        "keep_channels=nowhere",
        "--set",
        f"out_dir={tiny_cfg.out_dir}",
    ]
    assert main(argv) == 2
    assert "keep_channels names 'nowhere'" in capsys.readouterr().err
