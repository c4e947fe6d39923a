"""`bitgate verify RUN`: a tiny finished stm32h7 run measured on an emulated core beside its costs, and every
input it must refuse refused in one line (exit 2) before anything is written."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bitgate import verify_run as verify_module
from bitgate.cli import main
from deploy.firmware import Toolchain, find_cmsis_nn, find_toolchain
from search.model_file import load_arch
from search.run import run

MISSING = find_toolchain().problem or (None if find_cmsis_nn() else "CMSIS-NN sources not found")


def _written(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if p.name in ("verify.json", "export"))


def _hand_run(tiny_cfg, tmp_path: Path, **changes) -> Path:
    """A run folder that looks finished (config, metrics, an empty model.pt): enough for the checks that
    come before anything is read or written."""
    folder = tmp_path / "hand"
    folder.mkdir()
    (folder / "config.json").write_text(replace(tiny_cfg, **changes).to_json())
    cfg = replace(tiny_cfg, **changes)
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "method": cfg.method,
                "target": cfg.target,
                "cost_name": "memory",
                "cost": 1.0,
                "test_acc": 0.5,
                "costs": {"memory": 1.0},
            }
        )
    )
    (folder / "model.pt").write_bytes(b"")
    return folder


@pytest.mark.skipif(MISSING is not None, reason=f"firmware tests skip: {MISSING}")
def test_verify_measures_a_finished_run_on_a_core_beside_its_costs(tiny_cfg, capsys):
    cfg = replace(
        tiny_cfg, target="stm32h7", bits=(0, 4, 8), warmup_epochs=1, search_epochs=1, finetune_epochs=0, name="m7"
    )
    metrics = run(cfg)
    run_dir = Path(cfg.out_dir) / "m7"
    assert main(["verify", str(run_dir), "--core", "m7", "--inputs", "3"]) == 0
    out = capsys.readouterr().out
    v = json.loads((run_dir / "verify.json").read_text())
    core = v["cores"]["m7"]
    assert list(v["cores"]) == ["m7"] and v["inputs"] == 3 and v["flavour"] == "cmsis-nn"
    assert core["bit_exact"] and core["outputs_equal"] == core["outputs_total"] == 3 * 4  # synthetic: 4 classes
    assert core["argmax_agree"] == core["argmax_compared"]
    assert core["flavour_equal"] == core["outputs_total"]  # the run's network computing the flavour's arithmetic
    assert core["flash_model_bytes"] == v["predicted"]["memory"] == metrics["costs"]["memory"]
    assert core["static_ram_bytes"] == v["predicted"]["peak_activation_ram"] == metrics["costs"]["peak_activation_ram"]
    assert len(core["instructions"]) == 3 and core["instructions"][0] > 0 < core["stack_bytes"]
    assert set(core["per_layer"]) == set(load_arch(run_dir / "arch.json").weight_bits)
    latency = v["predicted"]["latency"]["m7"]
    assert latency["target"] == "stm32h7" and set(latency["per_layer"]) == set(core["per_layer"])
    assert latency["total"] == pytest.approx(metrics["costs"]["latency_cortexm"], rel=0.05)  # fresh supernet's plan
    assert f"{metrics['costs']['memory']:,.0f} = {metrics['costs']['memory']:,.0f}" in out
    assert "instructions per inference, by layer" in out and str(run_dir / "verify.json") in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--inputs", "0"], "--inputs"),
        (["--core", "m9"], "unknown core 'm9'"),
        (["--opt", "O7"], "optimisation level"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(tiny_cfg, tmp_path, capsys, args, says):
    folder = _hand_run(tiny_cfg, tmp_path, target="stm32h7")
    assert main(["verify", str(folder), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
    assert _written(folder) == []


def test_runs_it_cannot_verify_are_one_line_exit_2(tiny_cfg, tmp_path, capsys):
    cases = {"does not exist": tmp_path / "nothing-here"}
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text(replace(tiny_cfg, target="stm32h7").to_json())
    cases["has not finished"] = half
    cases["family 'generic'"] = _hand_run(tiny_cfg, tmp_path)  # tiny_cfg's target is generic
    for why, folder in cases.items():
        assert main(["verify", str(folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and (why in err or "not a bitgate run folder" in err), err
        assert not folder.exists() or _written(folder) == []


def test_a_cortex_m_run_priced_for_the_reference_flavour_is_refused(tiny_cfg, tmp_path, capsys):
    folder = _hand_run(tiny_cfg, tmp_path, target="stm32h7", flavour="reference")
    assert main(["verify", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert "'reference' flavour" in err and len(err.splitlines()) == 1
    assert _written(folder) == []


def test_a_missing_toolchain_is_one_line_naming_the_packages(tiny_cfg, tmp_path, capsys, monkeypatch):
    folder = _hand_run(tiny_cfg, tmp_path, target="stm32h7")
    none = Toolchain(gcc=None, nm=None, size=None, newlib=False, qemu=None, host_cc="/usr/bin/cc")
    monkeypatch.setattr(verify_module, "find_toolchain", lambda: none)
    assert main(["verify", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm" in err
    assert len(err.splitlines()) == 1 and _written(folder) == []


def test_missing_cmsis_nn_sources_are_one_line(tiny_cfg, tmp_path, capsys, monkeypatch):
    folder = _hand_run(tiny_cfg, tmp_path, target="stm32h7")
    monkeypatch.setattr(verify_module, "find_toolchain", lambda: Toolchain("gcc", "nm", "size", True, "qemu", "cc"))
    monkeypatch.setattr(verify_module, "find_cmsis_nn", lambda: None)
    assert main(["verify", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert "CMSIS_NN_PATH" in err and len(err.splitlines()) == 1 and _written(folder) == []
