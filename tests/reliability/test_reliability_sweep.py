"""Sweeps over any method knob (--vary or [sweep] vary), with the knob in folder names, table and progress."""

from __future__ import annotations

import tomllib

import pytest
from reliability_helpers import tiny_args

from search.config import ConfigError, SearchConfig
from search.sweep import SweepConfig, point_label


@pytest.mark.parametrize(
    "table",
    [
        {"vary": "method_options.t_margin=0.02,0.05"},
        {"vary": "method_options.t_margin=[0.02,0.05]"},
        {"vary": "method_options.t_margin", "values": [0.02, 0.05]},
        tomllib.loads('vary = { "method_options.t_margin" = [0.02, 0.05] }'),
        tomllib.loads("[vary.method_options]\nt_margin = [0.02, 0.05]"),
    ],
)
def test_every_spelling_of_vary(table):
    spec = SweepConfig.from_dict({"methods": "importance", **table})
    points = spec.labelled_points(SearchConfig(method="importance"))
    assert [dict(p.method_options)["t_margin"] for p, _ in points] == [0.02, 0.05]
    assert [v for _, v in points] == [{"t_margin": 0.02}, {"t_margin": 0.05}]
    assert point_label(*points[0]) == "importance, t_margin 0.02"


def test_vary_a_setting_and_keep_uniform_points():
    spec = SweepConfig.from_dict({"methods": "joint,uniform", "vary": "lr=1e-3,1e-2", "uniform_bits": "8"})
    points = spec.labelled_points(SearchConfig())
    assert [(p.method, p.lr) for p, _ in points] == [("joint", 1e-3), ("joint", 1e-2), ("uniform", 1e-3)]


def test_vary_two_settings_is_refused():
    with pytest.raises(ConfigError, match="one setting"):
        SweepConfig.from_dict({"vary": {"method_options": {"a": [1], "b": [2]}}})


def test_vary_sweep_names_folders_and_prints_the_knob(cli, tmp_path):
    out = tmp_path / "runs"
    args = tiny_args(out, "warmup_epochs=1", "finetune_epochs=0", "progress=true")
    result = cli("sweep", *args, "--methods", "importance", "--vary", "method_options.t_margin=0,0.5", "--no-plot")
    assert result.code == 0, result.err
    (folder,) = out.iterdir()
    names = sorted(p.name for p in folder.iterdir() if p.name[:2].isdigit())
    assert [n.split("-")[0] for n in names] == ["00", "01"]
    assert "t_margin0-" in names[0] and "t_margin0.5-" in names[1]
    assert "point 1/2: importance, t_margin 0" in result.out and "point 2/2: importance, t_margin 0.5" in result.out
    header = next(line for line in result.out.splitlines() if line.startswith("method"))
    assert "t_margin" in header
    rows = [line.split() for line in result.out.splitlines() if line.startswith("importance ")]
    assert [r[3] for r in rows] == ["0", "0.5"] and all(r[1] == "-" or r[1] == "0.05" for r in rows)


def test_budget_and_uniform_points_show_no_strength(cli, tmp_path):
    out = tmp_path / "runs"
    args = tiny_args(out, "warmup_epochs=1", "search_epochs=1", "finetune_epochs=0")
    result = cli("sweep", *args, "--methods", "joint,uniform", "--budgets", "10kB", "--uniform-bits", "8", "--no-plot")
    assert result.code == 0, result.err
    rows = [line.split() for line in result.out.splitlines() if line.startswith(("joint ", "uniform-w8 "))]
    assert [r[1] for r in rows] == ["-", "-"] and rows[0][2] == "10,000"
