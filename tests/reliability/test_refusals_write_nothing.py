"""Every refusal the CLI makes is one line (exit 2) and leaves the disk as it was: nothing created, nothing
changed. One table of bad invocations over every command, the issue's cases among them; each runs in a
sandbox holding a finished run, a finished sweep, a plain file and an empty folder."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability_helpers import tiny_args

from bitgate.cli import main

LONG = "z" * 300


class _Planted:
    def __reduce__(self):
        return (Path.touch, (Path("PWNED"),))


def _set_json(rel: str, edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def prepare(box: Path) -> None:
        (path,) = sorted(box.glob(rel))
        data = json.loads(path.read_text())
        path.write_text(json.dumps(edit(data)))

    return prepare


def _image_tree(classes: int, corrupt: bool = False) -> Callable[[Path], None]:
    def prepare(box: Path) -> None:
        from PIL import Image

        for c in range(classes):
            folder = box / "images" / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (8, 8), (40 * c, 3 * i, 0)).save(folder / f"{i}.png")
        if corrupt:
            (box / "images" / "class0" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")

    return prepare


def _costs_as_text(m: dict) -> dict:
    m["costs"] = {k: "big" for k in m["costs"]}
    return m


def _strength(cfg: dict) -> dict:
    return {**cfg, "strength": 0.7}


NOTHING = None
# (name, argv with {out} = the sandbox's runs folder, text the error line must contain, preparation)
CASES: list[tuple[str, list[str], str, Callable[[Path], None] | None]] = [
    ("tau_final above tau0", ["search", *tiny_args(Path("runs"), "tau_final=2")], "tau_final", NOTHING),
    (
        "ram_budget on uniform",
        ["search", *tiny_args(Path("runs"), "method=uniform", "ram_budget=100B")],
        "does not apply",
        NOTHING,
    ),
    ("ram_budget below the floor", ["search", *tiny_args(Path("runs"), "ram_budget=10B")], "smallest viable", NOTHING),
    (
        "keep_channels makes the budget unreachable",
        ["search", *tiny_args(Path("runs"), "keep_channels=features", "budget=2kB")],
        "keep_channels",
        NOTHING,
    ),
    (
        "exclude leaves no searchable layer",
        ["search", *tiny_args(Path("runs"), "exclude=features.0,features.3,features.6,fc")],
        "no Conv",
        NOTHING,
    ),
    (
        "twonn-cluster clusters=1",
        ["search", *tiny_args(Path("runs"), "method=twonn-cluster", "method_options=clusters:1")],
        "clusters",
        NOTHING,
    ),
    (
        "a model that does not take the data",
        ["search", *tiny_args(Path("runs"), "model=vgg19")],
        "cannot take",
        NOTHING,
    ),
    (
        "pretrained pickle",
        ["search", *tiny_args(Path("runs"), "pretrained=evil.pt")],
        "pickled Python objects",
        lambda box: (box / "evil.pt").write_bytes(pickle.dumps({"w": _Planted()})),
    ),
    ("out_dir past NAME_MAX", ["search", *tiny_args(Path("runs") / LONG)], "bytes long", NOTHING),
    (
        "val_subset on a data set without it",
        ["search", *tiny_args(Path("runs"), "val_subset=10")],
        "no val_subset option",
        NOTHING,
    ),
    (
        "imagefolder with one class",
        ["search", *tiny_args(Path("runs"), "dataset=imagefolder", "data_root=images")],
        "at least two",
        _image_tree(1),
    ),
    (
        "imagefolder with a corrupt image",
        ["search", *tiny_args(Path("runs"), "dataset=imagefolder", "data_root=images")],
        "not a readable image",
        _image_tree(2, corrupt=True),
    ),
    ("misspelt key", ["search", *tiny_args(Path("runs"), "stregth=1")], "did you mean 'strength'", NOTHING),
    ("a setting as a flag", ["search", "--strength", "0.1"], "--set strength=0.1", NOTHING),
    (
        "TOML with a byte-order mark",
        ["search", "--config", "bom.toml", *tiny_args(Path("runs"))],
        "byte-order mark",
        lambda box: (box / "bom.toml").write_bytes(b"\xef\xbb\xbfstrength = 0.1\n"),
    ),
    (
        "uniform 3-bit on stm32h7 in a sweep",
        [
            "sweep",
            *tiny_args(Path("runs"), "target=stm32h7", "cost=memory"),
            "--methods",
            "uniform",
            "--uniform-bits",
            "3",
            "--no-plot",
        ],
        "3-bit",
        NOTHING,
    ),
    (
        "a sweep without points",
        ["sweep", *tiny_args(Path("runs")), "--strengths", "", "--no-plot"],
        "no points",
        NOTHING,
    ),
    (
        "duplicate budgets",
        ["sweep", *tiny_args(Path("runs")), "--budgets", "20kB,20000B", "--no-plot"],
        "same run",
        NOTHING,
    ),
    (
        "duplicate methods",
        ["sweep", *tiny_args(Path("runs")), "--methods", "joint,joint", "--no-plot"],
        "same run",
        NOTHING,
    ),
    (
        "vary an option the method lacks",
        [
            "sweep",
            *tiny_args(Path("runs")),
            "--methods",
            "importance",
            "--vary",
            "method_options.nosuch=1,2",
            "--no-plot",
        ],
        "no such option",
        NOTHING,
    ),
    (
        "a resumed point folder of another configuration",
        ["sweep", "--resume", "sweep", "--no-plot"],
        "holds another configuration",
        _set_json("sweep/00-*/config.json", _strength),
    ),
    (
        "cost --classes -3",
        ["cost", "--model", "digits_cnn", "--target", "generic", "--classes", "-3"],
        "--classes",
        NOTHING,
    ),
    (
        "cost --in-shape 0,8,8",
        ["cost", "--model", "digits_cnn", "--target", "generic", "--in-shape", "0,8,8"],
        "--in-shape",
        NOTHING,
    ),
    (
        "cost with the wrong input",
        ["cost", "--model", "vgg19", "--target", "generic", "--in-shape", "1,8,8"],
        "cannot take",
        NOTHING,
    ),
    (
        "cost --run with lists in arch.json",
        ["cost", "--target", "generic", "--run", "run"],
        "arch.json",
        _set_json("run/arch.json", lambda a: {**a, "layers": [1, 2]}),
    ),
    ("show with costs as text", ["show", "run"], "metrics.json", _set_json("run/metrics.json", _costs_as_text)),
    (
        "show with lists in arch.json",
        ["show", "run"],
        "arch.json",
        _set_json("run/arch.json", lambda a: {**a, "layers": {k: [8] for k in a["layers"]}}),
    ),
    ("show on a folder that is not a run", ["show", "empty"], "not a bitgate run folder", NOTHING),
    ("pareto --out onto a file", ["pareto", "run", "--out", "notes.txt"], "is a file", NOTHING),
    ("pareto on nothing", ["pareto", "missing"], "does not exist", NOTHING),
    ("export --out onto a file", ["export", "run", "--out", "notes.txt"], "is a file", NOTHING),
    ("report --out onto a folder", ["report", "sweep", "--out", "empty"], "is a folder", NOTHING),
    ("report --out onto someone's file", ["report", "sweep", "--out", "notes.txt"], "not one bitgate wrote", NOTHING),
    (
        "report with every point unreadable",
        ["report", "sweep"],
        "no finished runs",
        lambda box: [_set_json(f"sweep/0{i}-*/metrics.json", _costs_as_text)(box) for i in (0, 1)],
    ),
    (
        "resume a sweep whose finished point has a corrupt metrics.json",
        ["sweep", "--resume", "sweep", "--no-plot"],
        "metrics.json",
        _set_json("sweep/00-*/metrics.json", _costs_as_text),
    ),
    (
        "resume a sweep with a corrupt sweep.json",
        ["sweep", "--resume", "sweep", "--no-plot"],
        "sweep.json",
        lambda box: (box / "sweep" / "sweep.json").write_text('{"base": [], "sweep": 3}'),
    ),
]


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("refusal-sweep")
    assert (
        main(
            [
                "sweep",
                *tiny_args(out, "name=sweep"),
                "--methods",
                "joint,uniform",
                "--strengths",
                "0.1",
                "--uniform-bits",
                "8",
                "--no-plot",
            ]
        )
        == 0
    )
    return out / "sweep"


@pytest.mark.parametrize(("argv", "needle", "prepare"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_refusal_is_one_line_and_writes_nothing(
    tmp_path, monkeypatch, capsys, finished_run, finished_sweep, argv, needle, prepare
):
    shutil.copytree(finished_run, tmp_path / "run")
    shutil.copytree(finished_sweep, tmp_path / "sweep")
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "empty").mkdir()
    if prepare is not None:
        prepare(tmp_path)
    before = _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse
        code = stop.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    errors = [line for line in err if ": error: " in line]
    assert len(errors) == 1 and err[-1] == errors[0] and needle in errors[0], err
    assert all("warning" in line for line in err[:-1]) and "Traceback" not in "".join(err)
    assert _tree(tmp_path) == before and not (tmp_path / "PWNED").exists()
