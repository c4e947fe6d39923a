"""The CLI's exception boundary: no traceback ever reaches the terminal, whatever a command raises."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from bitgate import commands
from bitgate.boundary import blame, one_line
from bitgate.cli import main
from search.config import ConfigError


def _run(capsys, *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


def test_an_unexpected_exception_is_one_line_with_its_log(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("tensor a (3) must match tensor b (4)\nat dimension 1")

    monkeypatch.setattr(commands, "cmd_targets", broken)
    code, err = _run(capsys, "targets")
    assert code == 1 and len(err) == 1 and "Traceback" not in err[0]
    assert "RuntimeError: tensor a (3) must match tensor b (4)" in err[0]
    log = Path(err[0].rsplit(" ", 1)[1])
    assert "Traceback" in log.read_text() and "at dimension 1" in log.read_text()
    log.unlink()


def test_a_failure_inside_a_run_folder_logs_there(monkeypatch, capsys, tmp_path):
    def broken(args):
        with blame(tmp_path / "outer"), blame(tmp_path):  # the innermost folder wins
            raise IndexError("list index out of range")

    monkeypatch.setattr(commands, "cmd_targets", broken)
    code, err = _run(capsys, "targets")
    assert code == 1 and err[0].endswith(str(tmp_path / "error.log"))
    assert "IndexError" in (tmp_path / "error.log").read_text()


@pytest.mark.parametrize(
    ("exc", "code"), [(ConfigError("bad key"), 2), (FileExistsError("x exists"), 2), (KeyboardInterrupt(), 130)]
)
def test_refusals_keep_their_codes(monkeypatch, capsys, exc, code):
    def refuse(args):
        raise exc

    monkeypatch.setattr(commands, "cmd_targets", refuse)
    got, err = _run(capsys, "targets")
    assert got == code and len(err) == 1


def test_escape_codes_and_second_lines_never_reach_the_terminal():
    text = "\x1b[1mWeights only load failed\x1b[0m. Re-running `torch.load` with\n`weights_only` set to `False`"
    assert one_line(RuntimeError(text)) == "Weights only load failed. Re-running `torch.load` with"
    assert one_line(KeyError("unknown target 'x'")) == "unknown target 'x'"
    assert one_line(ValueError("")) == "ValueError"


def test_python_warnings_become_one_bitgate_line_each(monkeypatch, capsys):
    def noisy(args):
        for _ in range(3):
            warnings.warn("bitgate: exported model needs 9 bytes of Flash", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(commands, "cmd_targets", noisy)
    code, err = _run(capsys, "targets")
    assert code == 0 and err == ["bitgate: warning: exported model needs 9 bytes of Flash"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["search", "--strength", "0.1"], "--set strength=0.1"),
        (["search", "--budget=2kB"], "--set budget=2kB"),
        (["serch"], "invalid choice"),
        (["pareto"], "required"),
    ],
)
def test_argument_errors_are_one_line_with_a_hint(capsys, argv, needle):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and needle in err[0]


def test_unknown_keys_suggest_the_near_miss(capsys, tmp_path):
    code, err = _run(capsys, "search", "--set", "stregth=1")
    assert code == 2 and err[0].endswith("unknown config key 'stregth' (did you mean 'strength'?)")
    code, err = _run(
        capsys,
        "sweep",
        "--vary",
        "method_options.t_margn=1,2",
        "--methods",
        "importance",
        "--set",
        f"out_dir={tmp_path / 'runs'}",
        "--no-plot",
    )
    assert code == 2 and "did you mean 't_margin'?" in err[0] and not (tmp_path / "runs").exists()


def test_a_path_the_file_system_refuses_is_bad_input(capsys, tmp_path):
    """Found by the long fuzz profile: `show` on a 300-character name raised OSError (File name too long)."""
    code, err = _run(capsys, "show", str(tmp_path / ("y" * 300)))
    assert code == 2 and len(err) == 1 and "File name too long" in err[0] and len(err[0]) < 200


def test_a_failure_inside_a_run_logs_into_its_folder(monkeypatch, capsys, tmp_path):
    import search.run

    def broken(*args, **kwargs):
        raise RuntimeError("shapes (3,) and (4,) not aligned")

    monkeypatch.setattr(search.run, "_phases", broken)
    code, err = _run(
        capsys,
        "search",
        "--set",
        "dataset=synthetic",
        "--set",
        f"out_dir={tmp_path}",
        "--set",
        "name=r",
        "--set",
        "progress=false",
    )
    assert code == 1 and len(err) == 1 and err[0].endswith(str(tmp_path / "r" / "error.log"))
    assert "not aligned" in (tmp_path / "r" / "error.log").read_text()
