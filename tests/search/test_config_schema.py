"""config.json carries its layout version; a run folder written before versions existed keeps loading
(`bitgate show`, `export`, `report`, `search --resume`), and so does one written by this version."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bitgate.cli import main
from search.config import ConfigError, SearchConfig, load_config
from search.config_schema import SCHEMA, migrate
from search.run import run


def test_config_json_says_its_layout_version_first():
    cfg = SearchConfig(method_options=(("rho", 0.1),), bits=(0, 8), flavour="cmsis-nn")
    saved = json.loads(cfg.to_json())
    assert next(iter(saved)) == "schema" and saved["schema"] == SCHEMA
    assert SearchConfig.from_saved(saved) == cfg == SearchConfig.from_dict(saved)


def test_the_layout_before_versions_is_migrated():
    """Schema 0: no "schema" key; harden_gap (replaced by harden_collapse) is dropped, and a folder
    written before the flavour setting keeps the reference flavour it was priced for."""
    old = {k: v for k, v in SearchConfig(target="stm32h7").to_dict().items() if k not in ("schema", "flavour")}
    cfg = SearchConfig.from_saved({**old, "harden_gap": 0.1})
    assert cfg == SearchConfig(target="stm32h7", flavour="reference")
    assert SearchConfig.from_saved({**old, "flavour": ""}).flavour == ""  # written after the setting existed
    assert migrate({"schema": SCHEMA, "lr": 0.1}) == {"lr": 0.1}


def test_plain_settings_are_not_taken_for_an_old_layout(tmp_path):
    assert SearchConfig.from_dict({"target": "stm32h7"}).flavour == ""  # --set / TOML: the target's flavour
    toml = tmp_path / "c.toml"
    toml.write_text('target = "stm32h7"\n')
    assert load_config(toml).flavour == ""


@pytest.mark.parametrize("schema", [SCHEMA + 1, "1", -1])
def test_an_unknown_layout_is_refused_in_one_line(schema):
    with pytest.raises(ConfigError, match="schema") as err:
        SearchConfig.from_saved({"schema": schema, "lr": 0.1})
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A finished tiny run as this version writes it, and one in the layout before versions: priced for the
    reference flavour (as every run then was), its config.json without "schema" and "flavour", with harden_gap."""
    root = tmp_path_factory.mktemp("schema")
    cfg = SearchConfig(
        model="digits_cnn",
        dataset="synthetic",
        train_subset=128,
        target="stm32h7",
        cost="memory",
        warmup_epochs=1,
        search_epochs=1,
        finetune_epochs=1,
        batch_size=64,
        name="run",
        progress=False,
    )
    run(replace(cfg, out_dir=str(root / "current")))
    run(replace(cfg, out_dir=str(root / "old"), flavour="reference"))
    old = root / "old" / "run" / "config.json"
    data = {k: v for k, v in json.loads(old.read_text()).items() if k not in ("schema", "flavour")}
    old.write_text(json.dumps({**data, "harden_gap": 0.1}, indent=1))
    return {"current": root / "current" / "run", "old": root / "old" / "run"}


@pytest.mark.parametrize("layout", ["current", "old"])
def test_a_run_folder_of_either_layout_shows_exports_reports_and_resumes(folders, layout, capsys):
    folder = folders[layout]
    before = json.loads((folder / "metrics.json").read_text())
    assert main(["show", str(folder)]) == 0 and (folder / "arch.png").stat().st_size > 0
    assert main(["export", str(folder), "--format", "c"]) == 0
    flavour = "cmsis-nn" if layout == "current" else "reference"  # what the run was priced for
    assert f"({flavour} flavour)" in capsys.readouterr().out
    assert main(["report", str(folder.parent)]) == 0 and (folder.parent / "report.html").is_file()
    assert main(["search", "--resume", str(folder)]) == 0
    after = json.loads((folder / "metrics.json").read_text())
    assert (after["test_acc"], after["cost"]) == (before["test_acc"], before["cost"])
