"""A run folder is data: a malicious pickle planted in any file a command reads does not run.

Each command must say in one line that the file is not a valid checkpoint (exit 2), and the
planted code must not have run (it would create a marker file).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from reliability_helpers import tiny_args


class Payload:
    """Unpickling this calls open(marker, 'w'): the file appears iff the pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path: Path, marker: Path) -> None:
    torch.save({"epoch": 1, "state": Payload(marker)}, path)


def test_the_payload_would_run_if_unpickled(tmp_path):
    """The test below can fail: loading the planted file the old way runs the payload."""
    marker = tmp_path / "ran"
    plant(tmp_path / "x.pt", marker)
    torch.load(tmp_path / "x.pt", weights_only=False)
    assert marker.exists()


def _unfinish(run: Path, keep: tuple[str, ...]) -> None:
    """Make a finished run look interrupted: drop its results and the checkpoints not in `keep`."""
    for name in ("metrics.json", "arch.json", "model.pt"):
        (run / name).unlink()
    for ckpt in (run / "checkpoints").iterdir():
        if ckpt.stem not in keep:
            ckpt.unlink()


@pytest.mark.parametrize(
    ("planted", "keep"),
    [("warmup", ("warmup",)), ("search", ("warmup", "search")), ("finetune", ("warmup", "search", "finetune"))],
)
def test_resume_refuses_a_pickled_checkpoint(cli, run_copy, tmp_path, planted, keep):
    _unfinish(run_copy, keep)
    marker = tmp_path / "ran"
    plant(run_copy / "checkpoints" / f"{planted}.pt", marker)
    line = cli("search", "--resume", run_copy).one_line_error()
    assert f"{planted}.pt is not a valid checkpoint" in line
    assert not marker.exists()
    assert not (run_copy / "metrics.json").exists()


def test_export_refuses_a_pickled_model(cli, run_copy, tmp_path):
    marker = tmp_path / "ran"
    torch.save(Payload(marker), run_copy / "model.pt")
    line = cli("export", run_copy).one_line_error()
    assert "model.pt is not a valid checkpoint" in line
    assert not marker.exists() and not (run_copy / "export").exists()


def test_model_pt_is_plain_tensors_and_rebuilds_the_network(finished_run):
    from search.model_file import load_model

    saved = torch.load(finished_run / "model.pt", weights_only=True)
    assert saved["model"] == "digits_cnn" and saved["num_classes"] == 4 and saved["in_shape"] == [1, 8, 8]
    model = load_model(finished_run)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in saved["state"].items()}
    x = torch.randn(3, 1, 8, 8)
    again = load_model(finished_run)
    assert torch.equal(model(x), again(x))


def test_sweep_resume_refuses_a_pickled_shared_warmup(cli, tmp_path):
    out = tmp_path / "runs"
    args = tiny_args(out, "warmup_epochs=1", "search_epochs=1", "finetune_epochs=0")
    assert cli("sweep", *args, "--methods", "joint", "--strengths", "0.1", "--no-plot").code == 0
    (folder,) = out.iterdir()
    shutil.rmtree(next(folder.glob("00-*")))  # the point must be run again from the shared warm-up
    marker = tmp_path / "ran"
    plant(folder / "warmup" / "checkpoints" / "warmup.pt", marker)
    line = cli("sweep", "--resume", folder, "--no-plot").one_line_error()
    assert "warmup.pt is not a valid checkpoint" in line and not marker.exists()


def test_truncated_checkpoint_names_the_file(cli, run_copy):
    _unfinish(run_copy, ("warmup",))
    ckpt = run_copy / "checkpoints" / "warmup.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    line = cli("search", "--resume", run_copy).one_line_error()
    assert str(ckpt) in line and "not a valid checkpoint" in line


def test_corrupt_config_json_names_the_file(cli, run_copy):
    (run_copy / "config.json").write_text('{"model": "digits_cnn", ')
    line = cli("search", "--resume", run_copy).one_line_error()
    assert str(run_copy / "config.json") in line and "not valid JSON" in line


def test_corrupt_arch_json_on_export_names_the_file(cli, run_copy):
    (run_copy / "arch.json").write_text("[1, 2")
    line = cli("export", run_copy).one_line_error()
    assert "arch.json" in line


def test_checkpoint_of_another_network_is_refused(cli, run_copy):
    _unfinish(run_copy, ("warmup",))
    torch.save(
        {"epoch": 1, "state": {"model": {"w": torch.zeros(1)}, "opt": {}}}, run_copy / "checkpoints" / "warmup.pt"
    )
    line = cli("search", "--resume", run_copy).one_line_error()
    assert "warmup.pt does not match" in line


def test_config_json_is_accepted_by_config(cli, finished_run, tmp_path):
    out = tmp_path / "again"
    saved = json.loads((finished_run / "config.json").read_text())
    result = cli("search", "--config", finished_run / "config.json", "--set", f"out_dir={out}", "--set", "name=again")
    assert result.code == 0, result.err
    assert json.loads((out / "again" / "config.json").read_text()) == {**saved, "out_dir": str(out), "name": "again"}
