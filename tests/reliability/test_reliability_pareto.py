"""`bitgate pareto` skips unreadable runs with a warning naming each; plots keep one style per method."""

from __future__ import annotations

import shutil

from reports.plot_style import KELLY, method_style, point_label
from search.methods import plot_slots


def test_pareto_skips_a_corrupt_run_with_a_warning(cli, finished_run, tmp_path):
    root = tmp_path / "runs"
    for name in ("a", "b", "c"):
        shutil.copytree(finished_run, root / name)
    (root / "b" / "metrics.json").write_text('{"method": "joint", ')
    (root / "c" / "metrics.json").write_text('["not", "metrics"]')
    result = cli("pareto", root, "--cost", "size")
    assert result.code == 0, result.err
    warnings = result.err.strip().splitlines()
    assert len(warnings) == 2
    assert str(root / "b" / "metrics.json") in warnings[0] and str(root / "c" / "metrics.json") in warnings[1]
    assert (root / "pareto_size.png").stat().st_size > 0
    csv = (root / "pareto_size.csv").read_text().splitlines()
    assert len(csv) == 2 and str(root / "a") in csv[1]


def test_pareto_png_is_150_dpi(cli, finished_run, tmp_path):
    from PIL import Image

    shutil.copytree(finished_run, tmp_path / "r")
    assert cli("pareto", tmp_path / "r", "--cost", "size").code == 0
    with Image.open(tmp_path / "r" / "pareto_size.png") as im:
        assert round(im.info["dpi"][0]) == 150 and im.size[0] >= 900


def test_every_known_method_has_its_own_colour_and_the_same_one_everywhere():
    known = plot_slots()  # every registered method's own slot(s), uniform-w1..w8 included
    assert {"joint", "admm", "uniform-w4", "joint-path", "pit-then-mps"} <= set(known)
    colours = [method_style(m)[0] for m in known]
    assert len(set(colours)) == len(known) <= len(KELLY)
    assert method_style("admm") != method_style("uniform-w4")
    assert method_style("someone-elses") == method_style("someone-elses")


def test_point_labels_say_what_was_set():
    assert point_label({"method": "joint", "strength": 0.3, "budget": None}) == "s0.3"
    assert point_label({"method": "joint", "strength": 0.1, "budget": 4000.0}) == "b4k"
    row = {"method": "importance", "strength": 0.1, "method_options": {"t_margin": 0.05}}
    assert point_label(row) == "t_margin=0.05"
    assert point_label({"method": "uniform-w4", "strength": 0.1}) == ""
