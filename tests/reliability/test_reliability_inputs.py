"""Bad input is refused in one line (exit 2, no traceback) before any training and before the run
folder exists: nothing is written, no epoch is spent."""

from __future__ import annotations

import os

import pytest
from reliability_helpers import nothing_written, tiny_args

# (--set overrides, text the error line must contain)
BAD_SETTINGS = [
    (["bits=[9]"], "9-bit"),
    (["bits=9"], "9-bit"),
    (["bits=0"], "prune everything"),
    (["target=stm32h7", "bits=0,2,4,8"], "2-bit"),
    (["target=stm32h7", "bits=[0,5,8]"], "5-bit"),
    (["target=stm32h7", "act_bits=4"], "activations"),
    (["act_bits=0"], "act_bits"),
    (["strength=nan"], "strength must be a finite number"),
    (["strength=inf"], "strength must be a finite number"),
    (["strength=-1"], "strength"),
    (["lr=nan"], "lr must be a finite number"),
    (["lr=-1e-3"], "lr"),
    (["lr=1e999"], "lr must be a finite number"),
    (["arch_lr=0"], "arch_lr"),
    (["weight_decay=-inf"], "weight_decay"),
    (["tau0=nan"], "tau0"),
    (["method_options=rho:nan"], "method_options.rho"),
    (["val_fraction=1.5"], "val_fraction"),
    (["train_subset=0"], "train_subset"),
    (["batch_size=0"], "batch_size"),
    (["warmup_epochs=2.5"], "warmup_epochs"),
    (["warmup_epochs=-1"], "warmup_epochs"),
    (["uniform_bits=9"], "uniform_bits"),
    (["sampling=sometimes"], "sampling"),
    (["budget=0"], "budget"),
    (["budget=lots"], "lots"),
    (["budget=1B"], "smallest viable"),
    (["model=nonet"], "nonet"),
    (["dataset=nodata"], "nodata"),
    (["target=atari2600"], "atari2600"),
    (["method=magic"], "magic"),
    (["cost=latency_mpic", "target=stm32h7"], "latency_mpic"),
    (["colour=red"], "colour"),
    (["progress=maybe"], "progress"),
    (["name=../../escape"], "one folder name"),
    (["name=a/b"], "one folder name"),
    (["name=.hidden"], "one folder name"),
    (["name=" + "x" * 300], "300 characters"),
    (["name="], "one folder name"),
    (["out_dir="], "out_dir is empty"),
]


@pytest.mark.parametrize(("settings", "needle"), BAD_SETTINGS, ids=[" ".join(s)[:40] for s, _ in BAD_SETTINGS])
def test_bad_setting_is_one_line_and_writes_nothing(cli, tmp_path, settings, needle):
    out = tmp_path / "runs"
    line = cli("search", *tiny_args(out, *settings)).one_line_error()
    assert needle in line
    assert nothing_written(out) and not (tmp_path / "escape").exists()


def test_bad_setting_in_a_sweep_writes_nothing(cli, tmp_path):
    out = tmp_path / "runs"
    line = cli("sweep", *tiny_args(out, "target=stm32h7", "act_bits=4"), "--no-plot").one_line_error()
    assert "activations" in line and nothing_written(out)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--methods", "joint,wizardry"], "wizardry"),
        (["--budgets", "1B"], "smallest viable"),
        (["--strengths", "0.1,nan"], "strengths"),
        (["--vary", "colour=1,2"], "cannot vary"),
        (["--vary", "method_options.t_margin=a,b"], "t_margin"),
        (["--vary", "method_options.t_margin"], "finite values"),
        (["--vary", "method_options.=1,2"], "name the option"),
    ],
)
def test_bad_sweep_flags_write_nothing(cli, tmp_path, flags, needle):
    out = tmp_path / "runs"
    line = cli("sweep", *tiny_args(out), *flags, "--no-plot").one_line_error()
    assert needle in line and nothing_written(out)


def test_out_dir_that_is_a_file(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "below"):
        line = cli("search", *tiny_args(out)).one_line_error()
        assert "is a file, not a folder" in line
    assert blocker.read_text() == "not a folder"


TOML_CASES = [
    ("strength = true\n", "boolean"),
    ('warmup_epochs = "many"\n', "warmup_epochs"),
    ("stregth = 0.1\n", "stregth"),
    ("model = 5\n", "model"),
    ("bits = [0, 4.5, 8]\n", "bits"),
    ("lr = [0.1]\n", "list"),
    ('method = { name = "joint" }\n', "table"),
    ("strength = nan\n", "finite"),
    ('strength = 0.1\n[sweep]\nmethods = ["joint"]\nstrenghts = [1]\n', "strenghts"),
    ("strength = \n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "needle"), TOML_CASES, ids=[t.split("=")[0].strip() for t, _ in TOML_CASES])
def test_misspelt_toml_is_one_line(cli, tmp_path, text, needle):
    out = tmp_path / "runs"
    (tmp_path / "c.toml").write_text(text)
    in_file = {line.split("=")[0].strip() for line in text.splitlines()}
    args = tiny_args(out, without=in_file)
    command = ["sweep", "--no-plot"] if "[sweep]" in text else ["search"]
    line = cli(*command, "--config", tmp_path / "c.toml", *args).one_line_error()
    assert needle in line and nothing_written(out)


def test_config_that_is_not_a_file(cli, tmp_path):
    assert "cannot be read" in cli("search", "--config", tmp_path).one_line_error()
    assert "does not exist" in cli("search", "--config", tmp_path / "none.toml").one_line_error()
    (tmp_path / "bad.json").write_text("[1,")
    assert "not valid JSON" in cli("search", "--config", tmp_path / "bad.json").one_line_error()


def test_malformed_override(cli, tmp_path):
    assert "key=value" in cli("search", "--set", "strength").one_line_error()


def test_lists_accept_both_spellings():
    from search.config import load_config

    for text in ("0,4,8", "[0,4,8]", "[0, 4, 8]", "0 4 8", "(0,4,8)"):
        assert load_config(None, [f"bits={text}"]).bits == (0, 4, 8)


def test_tv_model_folder_names_are_filesystem_safe():
    from search.config import SearchConfig
    from search.run import default_name

    name = default_name(SearchConfig(model="tv:resnet18", target="stm32h7"))
    assert ":" not in name and "/" not in name and name.startswith("tv-resnet18-joint-stm32h7")


def test_smallest_viable_cost_by_hand():
    """digits_cnn (conv 1->16, 16->32, 32->32, all 3x3; fc 32->10) on generic, size_bits, 2-bit weights.

    One kept channel per conv: 1*9 + 1*9 + 1*9 weights; the output layer keeps its 10 channels of 1
    input: 10. (27 + 10) * 2 bits = 74. With two channels per group: (2*9 + 2*2*9 + 2*2*9 + 10*2) * 2 = 220.
    """
    import torch

    from search.constraints.viability import smallest_viable_cost
    from targets import get_target
    from zoo.models import create_model

    model, x, target = create_model("digits_cnn", 10, (1, 8, 8)), torch.zeros(2, 1, 8, 8), get_target("generic")
    assert smallest_viable_cost(model, x, target, "size_bits", (0, 2, 4, 8)) == 74
    assert smallest_viable_cost(model, x, target, "size_bits", (0, 2, 4, 8), min_channels=2) == 220
    assert smallest_viable_cost(model, x, target, "size_bits", (0, 4, 8)) == 148  # lowest bits 4


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_out_dir_without_write_permission(cli, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        line = cli("search", *tiny_args(locked / "runs")).one_line_error()
        assert "permission denied" in line and not (locked / "runs").exists()
    finally:
        locked.chmod(0o700)
