"""`bitgate show`: the data behind arch.png matches arch.json, per-layer costs add up, groups are tagged."""

from __future__ import annotations

import json
from collections import Counter

import matplotlib.pyplot as plt
import pytest

from bitgate.cli import main
from reports.arch_plot import figure
from reports.layers import summarize
from reports.palette import PRUNED, bit_colour


def _runs(sweep_dir):
    return sorted(p.parent for p in sweep_dir.glob("*/arch.json"))


def _plotted(fig) -> dict[str, Counter]:
    """{layer: Counter(bits -> channels)} read back from the bar segments' gids and widths."""
    out: dict[str, Counter] = {}
    for patch in fig.axes[0].patches:
        layer, bits = patch.get_gid().rsplit(":", 1)
        out.setdefault(layer, Counter())[int(bits)] += round(patch.get_width())
    return out


def test_show_draws_one_bar_per_layer_with_arch_json_counts(tiny_sweep, capsys):
    runs = _runs(tiny_sweep)
    assert len(runs) == 3
    for run in runs:
        assert main(["show", str(run)]) == 0
        assert capsys.readouterr().out.strip().endswith(str(run / "arch.png"))
        assert (run / "arch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        layers = json.loads((run / "arch.json").read_text())["layers"]
        expected = {name: Counter(v["weight_bits"]) for name, v in layers.items()}
        s = summarize(run)
        assert [r.name for r in s.rows] == list(layers)  # network order, one row per searchable layer
        assert {r.name: Counter(r.channels) for r in s.rows} == expected
        fig = figure(s)
        assert _plotted(fig) == expected
        assert len(fig.axes[0].get_yticks()) == len(layers)
        plt.close(fig)


def test_strong_strength_prunes_and_the_picture_says_so(tiny_sweep):
    strong = summarize(next(r for r in _runs(tiny_sweep) if "-s30-" in r.name))
    assert sum(r.channels.get(0, 0) for r in strong.rows) > 0
    assert strong.totals["memory"] < strong.reference["memory"]
    w8 = summarize(next(r for r in _runs(tiny_sweep) if "uniform-w8" in r.name))
    assert w8.totals == w8.reference  # the unpruned top-bit network is the reference itself
    assert w8.knob == "w8"


def test_per_layer_costs_hand_computed_and_add_up(tmp_path, hand_run):
    def bits(layer, n):  # the stem and the add it feeds: 8 channels at 8 bits, 4 at 4 bits, 4 pruned
        return [8] * 8 + [4] * 4 + [0] * 4 if layer in ("conv", "stack1.conv2") else [8] * n

    s = summarize(hand_run(tmp_path / "run", "resnet8", "mpic", bits))
    assert s.shown == ("memory", "latency_mpic")
    conv = s.rows[0]
    assert conv.name == "conv" and conv.channels == {8: 8, 4: 4, 0: 4}
    # 1 input channel, 3x3: 9 weights per channel; 8*9 bytes + ceil(4*9*4/8) bytes + 12 kept * (4+4+1) metadata
    assert conv.costs["memory"] == 72 + 18 + 108
    # MPIC at a8: 8x8 output pixels * 9 MACs per channel, 8 channels at 2.1 MAC/cycle, 4 at 2.3
    assert conv.costs["latency_mpic"] == pytest.approx(64 * 9 * (8 / 2.1 + 4 / 2.3))
    for cost in s.shown:
        assert sum(r.costs[cost] for r in s.rows) == pytest.approx(s.totals[cost])
    tags = {r.name: r.group for r in s.rows}
    assert tags["conv"] == tags["stack1.conv2"] != ""
    assert tags["stack2.conv2"] == tags["stack2.shortcut"] not in ("", tags["conv"])
    assert tags["stack1.conv1"] == tags["fc"] == ""


def test_palette_is_fixed_per_bit_width():
    assert bit_colour(0) == PRUNED
    assert len({bit_colour(b) for b in range(0, 9)}) == 9
    assert bit_colour(8) == bit_colour(8)
    with pytest.raises(ValueError):
        bit_colour(-1)


def test_show_on_a_folder_that_is_not_a_run_is_one_line_exit_2(tmp_path, capsys):
    assert main(["show", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a bitgate run folder (no config.json)" in err
    assert not (tmp_path / "arch.png").exists()
