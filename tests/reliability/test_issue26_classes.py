"""One test per class of issue 26 that the refusal table and the fuzz tests do not already pin down:
a model refused before the warm-up, resumes that rewrite nothing, points that survive a move, a run
that keeps its target, and what the end of a run says."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch
from reliability_helpers import tiny_args
from torch import nn

from search.config import ConfigError, SearchConfig
from search.numbers import count, name_number
from search.path import SEARCH_FOLDER, as_path_point, search_folder
from search.verdicts import near_chance, off_board
from zoo.registry import register_model


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class _Twice(nn.Module):
    """One conv called twice (shared weights): the channel analysis cannot give it one set of gates."""

    def __init__(self, num_classes: int, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_shape[0], in_shape[0], 3, padding=1)
        self.fc = nn.Linear(in_shape[0], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(self.conv(x)), 1), 1))


def test_a_layer_called_twice_is_refused_before_the_warm_up(cli, tmp_path):
    register_model("twice_test")(_Twice)  # the conftest puts the registry back after the test
    out = tmp_path / "runs"
    line = cli("search", *tiny_args(out, "model=twice_test", "warmup_epochs=50")).one_line_error()
    assert "called more than once" in line and not out.exists()


def test_resuming_a_finished_run_rewrites_nothing(cli, run_copy):
    before = _digest(run_copy)
    result = cli("search", "--resume", run_copy, "--set", "lr=0.5")
    assert result.code == 0 and "changes nothing" in result.err
    assert _digest(run_copy) == before


def test_path_points_name_their_search_relative_to_the_sweep(tmp_path):
    point = as_path_point(SearchConfig(method="joint-path", budget=2000.0))
    assert point.from_search == SEARCH_FOLDER and point.search_epochs == 0
    moved = tmp_path / "moved" / "sweep" / "03-digits_cnn-joint-path-generic-b2000-seed0"
    assert search_folder(point, moved) == moved.parent / SEARCH_FOLDER
    old = SearchConfig(method="joint-path", from_search="/old/place/path-search")  # written before: absolute
    assert search_folder(old, moved) == Path("/old/place/path-search")


def test_a_run_keeps_its_target_for_later_commands(cli, tmp_path, monkeypatch):
    from targets import reset_registry

    devices = tmp_path / "devices"
    devices.mkdir()
    generic = Path(__file__).resolve().parents[2] / "targets" / "devices" / "generic.toml"
    (devices / "myboard.toml").write_text(generic.read_text().replace('name = "generic"', 'name = "myboard"'))
    monkeypatch.setenv("BITGATE_TARGETS_PATH", str(devices))
    reset_registry()
    try:
        result = cli("search", *tiny_args(tmp_path / "runs", "target=myboard", "name=mine", "cost=memory"))
        assert result.code == 0, result.err
        assert "memory" in result.out and " bytes" in result.out and "e+" not in result.out  # one number format
    finally:
        monkeypatch.delenv("BITGATE_TARGETS_PATH")
        reset_registry()
    run = tmp_path / "runs" / "mine"
    assert (run / "target.json").exists()
    assert cli("show", run).code == 0  # the registry no longer knows myboard: the run's copy stands in
    assert cli("export", run, "--format", "c").code == 0
    assert (run / "export" / "reference" / "model.c").exists()  # each flavour in its own folder


def test_end_of_run_warnings():
    from cost_models.fit import Fit

    assert "near chance (10.00% for 10 classes)" in near_chance(0.1003, 10)
    assert near_chance(0.5, 10) is None and near_chance(0.56, 2) is None and near_chance(0.52, 2)
    big = Fit("stm32h7", 2_356_154, 2_097_152, 1_000, 1_048_576)
    assert off_board(big) == (
        "the network does not fit stm32h7 (Flash 2,356,154 B > 2,097,152 B); search with "
        "fit_target=true or a budget to make it fit"
    )
    assert off_board(Fit("stm32h7", 1, 2, 1, 2)) is None


def test_numbers_are_spelt_one_way():
    assert count(2.35615e6) == "2,356,150" and count(14096.0) == "14,096"
    assert [name_number(v) for v in (0.3, 2000.0, 1e6, 2.5e6, 1048576.0, 3e9)] == [
        "0.3",
        "2000",
        "1M",
        "2.5M",
        "1.04858M",
        "3G",
    ]


def test_the_progress_bar_shows_what_the_log_line_shows():
    from search.context import epoch_summary, progress_line

    metrics = {"loss": 0.523, "task_loss": 0.4, "val_acc": 0.8123, "arch_cost": 1234.0, "tau": 0.5}
    assert epoch_summary(metrics) == "loss 0.523, val acc 81.2%, cost 1,234"
    assert progress_line("joint search", 3, 20, metrics, 12, 40) == (
        "joint search 3/20: loss 0.523, val acc 81.2%, cost 1,234, elapsed 0:12, ETA 0:40"
    )


def test_pareto_over_several_sweeps_writes_where_it_is_run(cli, finished_run, tmp_path, monkeypatch):
    for name in ("a", "b"):
        shutil.copytree(finished_run, tmp_path / name / "run")
    monkeypatch.chdir(tmp_path)
    assert cli("pareto", tmp_path / "a", tmp_path / "b").code == 0
    assert (tmp_path / "pareto_size.png").exists()
    assert not (tmp_path / "a" / "pareto_size.png").exists() and not (tmp_path / "b" / "pareto_size.png").exists()


def test_settings_refused_in_the_config_itself():
    with pytest.raises(ConfigError, match="tau_final 2 is above tau0 1"):
        SearchConfig(tau_final=2.0)
    SearchConfig(tau_final=2.0, tau_schedule="exp")  # exp does not read tau_final
    with pytest.raises(ConfigError, match="val_subset must be >= 1"):
        SearchConfig(val_subset=0)


def test_report_skips_a_point_whose_picture_cannot_be_drawn(cli, finished_run, tmp_path):
    """Found by the long fuzz profile: an empty arch.json passed find_points and failed the whole report
    while drawing pictures, after writing the earlier points' arch.png."""
    sweep = tmp_path / "sweep"
    for name in ("00-a", "01-b"):
        shutil.copytree(finished_run, sweep / name)
    (sweep / "01-b" / "arch.json").write_text("")
    result = cli("report", sweep)
    warnings = result.err.strip().splitlines()
    assert result.code == 0 and len(warnings) == 1 and str(sweep / "01-b" / "arch.json") in warnings[0]
    assert (sweep / "report.html").exists() and not (sweep / "01-b" / "arch.png").exists()


@pytest.mark.parametrize("more", [[], ["exclude=features.0", "act_bits=4,8"]])
def test_a_ram_budget_above_the_floor_is_met_after_training(cli, tmp_path, more):
    """Found by the training fuzz: ram_budget=600B passed the floor check (320 B at the fewest channels) and
    failed after the search, the RAM repair stuck on a plateau of the peak (1,088 B), or unable to lower the
    activation widths the floor was priced at. Now the repair walks to that floor."""
    import json

    out = tmp_path / "runs"
    result = cli("search", *tiny_args(out, "ram_budget=600B", "name=r", *more))
    assert result.code == 0, result.err
    limits = json.loads((out / "r" / "metrics.json").read_text())["limits"]
    assert [lim["met"] for lim in limits if lim["source"] == "ram_budget"] == [True]
