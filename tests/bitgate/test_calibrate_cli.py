"""`bitgate calibrate`: every bad input refused in one line (exit 2) with nothing written; -m slow: a small
grid measured into a table and a target file that prices a layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitgate import calibrate_run
from bitgate.cli import main
from deploy.firmware import Toolchain, find_cmsis_nn, find_toolchain

MISSING = find_toolchain().problem or (None if find_cmsis_nn() else "CMSIS-NN sources not found")


def _refused(capsys, argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and needle in err, err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--core", "m9", "--out", "OUT"], "'m9'"),
        (["--core", "m3", "--out", "OUT"], "plain C"),
        (["--core", "m4"], "--out DIR"),
        (["--core", "m4", "--out", "OUT", "--networks", "2"], "at least 10"),
        (["--core", "m4", "--out", "OUT", "--opt", "O9"], "O9"),
        (["--core", "m4", "--out", "OUT", "--name", "a b"], "a b"),
        (["--core", "m4", "--out", "OUT", "--export", "OUT"], "--import-log"),
        (["--core", "m4", "--import-log", "LOG"], "--export"),
        (["--core", "m4", "--import-log", "OUT/none.log", "--export", "OUT"], "none.log"),
        (["--core", "m4", "--import-log", "LOG", "--export", "OUT"], "holds no C export"),
        (["--core", "m4", "--import-log", "EMPTY", "--export", "OUT"], "no `bg-mark` lines"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, argv, needle):
    out = tmp_path / "out"
    (tmp_path / "board.log").write_text("bg-mark 0 65520 10\n")
    (tmp_path / "empty.log").write_text("hello\n")
    subs = {"OUT": str(out), "LOG": str(tmp_path / "board.log"), "EMPTY": str(tmp_path / "empty.log")}
    argv = [subs.get(a, a.replace("OUT", str(out))) for a in argv]
    _refused(capsys, ["calibrate", *argv], needle)
    assert not out.exists()


def test_an_existing_table_is_not_overwritten(capsys, tmp_path):
    (tmp_path / "cortex-m4.toml").write_text("keep me\n")
    _refused(capsys, ["calibrate", "--core", "m4", "--out", str(tmp_path)], "exists")
    assert (tmp_path / "cortex-m4.toml").read_text() == "keep me\n"


def test_a_missing_toolchain_is_one_line_naming_the_packages(capsys, tmp_path, monkeypatch):
    nothing = Toolchain(gcc=None, nm=None, size=None, newlib=False, qemu=None, host_cc="/usr/bin/cc")
    monkeypatch.setattr(calibrate_run, "find_toolchain", lambda: nothing)
    _refused(
        capsys,
        ["calibrate", "--core", "m33", "--out", str(tmp_path / "out")],
        "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm",
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(MISSING is not None, reason=f"firmware tests skip: {MISSING}")
def test_a_small_grid_gives_a_table_and_a_target_that_prices_a_layer(capsys, tmp_path):
    import torch

    from cost_models import evaluate
    from supernet.spec import LayerChoice, LayerSpec
    from targets.registry import load_target_toml

    assert main(["calibrate", "--core", "m33", "--out", str(tmp_path), "--networks", "12", "--name", "board"]) == 0
    assert "latency table" in capsys.readouterr().out
    target = load_target_toml(tmp_path / "board.toml")
    assert Path(target.params["latency_table"]) == tmp_path / "cortex-m33.toml" and target.params["core"] == "m33"
    conv = LayerSpec("c", "conv", 8, 16, (3, 3), in_spatial=(8, 8), out_spatial=(8, 8))
    probs = torch.zeros(3, 16)
    probs[2] = 1.0  # every channel at 8 bits
    one = torch.ones(1)
    choice = LayerChoice(conv, (0, 4, 8), probs, torch.ones(8), (8,), one, (8,), one)
    assert evaluate("latency_cortexm", [choice], target).item() > 0
