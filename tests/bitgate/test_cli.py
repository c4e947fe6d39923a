"""The command line: one-line errors with exit code 2, and the read-only commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bitgate.cli import main


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    return err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["search", "--set", "colour=red"], "colour"),
        (["search", "--set", "target=atari2600"], "atari2600"),
        (["search", "--set", "target=stm32h7", "--set", "cost=latency_mpic"], "latency_mpic"),
        (["search", "--set", "method=magic"], "magic"),
        (["search", "--set", "dataset=cifar10", "--set", "data_root=/nonexistent/cifar"], "/nonexistent/cifar"),
        (["search", "--config", "/nonexistent.toml"], "/nonexistent.toml"),
        (["cost", "--model", "resnet8", "--target", "nowhere"], "nowhere"),
        (["cost", "--model", "nonet", "--target", "generic"], "nonet"),
        (["sweep", "--methods", "joint,wizardry"], "wizardry"),
        (["pareto", "/nonexistent/runs"], "/nonexistent/runs"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, needle, tmp_path):
    argv = [a.replace("/nonexistent", str(tmp_path / "nonexistent")) for a in argv]
    assert needle.replace("/nonexistent", "") in _error(capsys, argv)


def test_targets_lists_every_target(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    for name in ("mpic", "gap8", "stm32l4", "stm32h7", "generic"):
        assert name in out


def test_cost_prints_every_cost(capsys):
    assert main(["cost", "--model", "resnet8", "--target", "stm32h7"]) == 0
    out = capsys.readouterr().out
    assert "77,360 bytes" in out  # 77,360 weights at 8 bits (seed 001's w8 point: ~78 kB)
    assert "latency_cortexm" in out and "12,501,632 MACs" in out
    assert "fits stm32h7: Flash " in out and " RAM " in out


TARGETS_DOC = Path(__file__).resolve().parents[2] / "docs" / "targets.md"


def documented_device_example() -> str:
    """The TOML block of docs/targets.md's "adding a device" section: the worked example users copy."""
    text = TARGETS_DOC.read_text().split("## Targets: adding a device", 1)[1]
    return re.search(r"```toml\n(.*?)```", text, re.S).group(1)


def test_new_device_from_one_toml_file(tmp_path, monkeypatch, capsys):
    """The documented worked example: one TOML file, no code edit, and `bitgate cost` prices on it."""
    from targets import reset_registry

    (tmp_path / "stm32f4.toml").write_text(documented_device_example())
    monkeypatch.setenv("BITGATE_TARGETS_PATH", str(tmp_path))
    reset_registry()
    try:
        assert main(["cost", "--model", "resnet8", "--target", "stm32f4"]) == 0
        out = capsys.readouterr().out
        # the built-in Cortex-M4 table x 1.57 cycles per instruction: all-8-bit ResNet-8 measured 29,857,410
        # instructions per inference on the emulated M4 (results/cortexm_latency_model/latency_model.csv)
        cycles = float(re.search(r"latency_cortexm\s+([\d,]+) cycles", out).group(1).replace(",", ""))
        assert cycles == pytest.approx(1.57 * 29_857_410, rel=0.05)
        assert "stm32f4" in out
    finally:
        monkeypatch.delenv("BITGATE_TARGETS_PATH")
        reset_registry()
