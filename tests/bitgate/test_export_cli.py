"""`bitgate export RUN_DIR`: a finished run exports, and its Flash bytes are the run's own costs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from bitgate.cli import main
from search.run import run


def test_export_of_a_finished_run_matches_its_costs(tiny_cfg, capsys):
    metrics = run(replace(tiny_cfg, warmup_epochs=1, search_epochs=1, finetune_epochs=0, name="r"))
    run_dir = Path(tiny_cfg.out_dir) / "r"
    assert main(["export", str(run_dir), "--format", "all"]) == 0
    out = capsys.readouterr().out
    assert f"{metrics['costs']['size']:,.0f} B packed weights" in out
    assert f"= {metrics['costs']['memory']:,.0f} B" in out
    manifest = json.loads((run_dir / "export" / "reference" / "model.json").read_text())
    assert manifest and (run_dir / "export" / "reference" / "model.onnx").stat().st_size > 0


def test_export_of_an_unfinished_run_is_one_line_exit_2(tiny_cfg, capsys, tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "config.json").write_text(tiny_cfg.to_json())
    assert main(["export", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.pt" in err and len(err.splitlines()) == 1


def test_cmsis_nn_flavour_from_the_cli(tiny_cfg, capsys):
    run(replace(tiny_cfg, warmup_epochs=1, search_epochs=1, finetune_epochs=0, name="r"))
    run_dir = Path(tiny_cfg.out_dir) / "r"
    assert main(["export", str(run_dir), "--format", "c", "--flavour", "cmsis-nn", "--out", str(run_dir / "m")]) == 0
    out = capsys.readouterr().out
    assert "cmsis-nn flavour" in out and "activation arena" in out
    manifest = json.loads((run_dir / "m" / "model.json").read_text())
    assert manifest["flavour"] == "cmsis-nn"
    files = {p.name: p.stat().st_mode & 0o777 for p in (run_dir / "m").iterdir()}
    assert files == {"model.c": 0o644, "model.h": 0o644, "model.json": 0o644, "model.bin": 0o644}
    header = (run_dir / "m" / "model.h").read_text()
    assert "int bg_infer(const int8_t *in, int8_t *out);" in header and "#define BG_CLASS_ORDER {" in header


def test_a_cortex_m_run_exports_its_own_flavour_with_the_bytes_and_ram_it_was_priced_at(tiny_cfg, capsys):
    """stm32h7 deploys with CMSIS-NN: the search priced 12 B of metadata per kept channel and the cmsis-nn
    arena + scratch, and `export` (no --flavour) writes exactly that."""
    cfg = replace(
        tiny_cfg, target="stm32h7", bits=(0, 4, 8), warmup_epochs=1, search_epochs=1, finetune_epochs=0, name="m7"
    )
    metrics = run(cfg)
    assert metrics["flavour"] == "cmsis-nn"
    run_dir = Path(tiny_cfg.out_dir) / "m7"
    assert main(["export", str(run_dir), "--format", "c"]) == 0
    out = capsys.readouterr().out
    assert "cmsis-nn flavour" in out and str(run_dir / "export" / "cmsis-nn") in out
    manifest = json.loads((run_dir / "export" / "cmsis-nn" / "model.json").read_text())
    assert manifest["bytes"]["flash"] == metrics["costs"]["memory"]
    assert manifest["ram"]["ram_bytes"] == metrics["costs"]["peak_activation_ram"]
