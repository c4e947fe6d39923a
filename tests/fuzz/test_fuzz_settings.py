"""Generated settings (--set KEY=VALUE, types, ranges and combinations) for `bitgate search` and `sweep`:
each is refused in one line with nothing written, or accepted and stopped where training would start."""

from __future__ import annotations

import itertools
from pathlib import Path

from conftest import tiny_set
from fuzz_helpers import call, check, examples, planted_pickle
from hypothesis import given, settings
from hypothesis import strategies as st

LONG = "x" * 300
NUMBERS = st.one_of(
    st.integers(-5, 300),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(["1e999", "-0", "0.5", "1e-9", "3", "2.5"]),
)
WORDS = st.sampled_from(
    [
        "",
        "none",
        "true",
        "false",
        "[]",
        "[0,4,8]",
        "0,4,8",
        "8",
        "0",
        "abc",
        "ü",
        "a b",
        "[[1]]",
        "{}",
        "1,,2",
        "nan",
        "../x",
        LONG,
    ]
)
VALUES = {
    "method": st.sampled_from(
        [
            "joint",
            "uniform",
            "channel-mps",
            "layer-mps",
            "prune",
            "importance",
            "admm",
            "twonn-cluster",
            "joint-path",
            "magic",
        ]
    ),
    "model": st.sampled_from(["digits_cnn", "resnet8", "nonet", "tv:nonet"]),
    "dataset": st.sampled_from(["synthetic", "digits", "nodata", "imagefolder"]),
    "target": st.sampled_from(["generic", "stm32h7", "mpic", "gap8", "atari2600"]),
    "cost": st.sampled_from(["size", "memory", "bitops", "latency_mpic", "peak_activation_ram", "nosuch"]),
    "bits": st.sampled_from(["0,4,8", "0,2,4,8", "8", "0", "9", "4,8", "[0, 1, 8]", ""]),
    "act_bits": st.sampled_from(["8", "4", "0", "2,4,8", ""]),
    "budget": st.sampled_from(["1B", "2kB", "1MB", "0", "-1kB", "lots", "1e999", "20kB"]),
    "ram_budget": st.sampled_from(["1B", "64kB", "0", "x"]),
    "exclude": st.sampled_from(["features.0", "features", "classifier", "nosuch", "features.0,features.3,features.6"]),
    "keep_channels": st.sampled_from(["features.0", "nosuch", "features"]),
    "method_options": st.sampled_from(["t_margin:0.1", "rho:nan", "nosuch:1", "clusters:1", "variant:quant", ":"]),
    "sampling": st.sampled_from(["soft", "gumbel", "hard", "sometimes"]),
    "out_dir": st.sampled_from(["runs", "notes.txt", "notes.txt/below", "", LONG, "a/" + LONG + "/b", "empty"]),
    "name": st.sampled_from(["ok", "", ".hidden", "a/b", "../up", LONG, "x" * 99]),
    "pretrained": st.sampled_from(["evil.pt", "missing.pt", "notes.txt"]),
    "val_subset": st.sampled_from(["10", "0", "x"]),
    "classes": st.sampled_from(["cat,dog", "cat"]),
}
NUMERIC = [
    "strength",
    "lr",
    "arch_lr",
    "tau0",
    "tau_final",
    "tau_decay",
    "val_fraction",
    "train_subset",
    "batch_size",
    "min_channels",
    "harden",
    "momentum",
    "uniform_bits",
    "patience",
    "seed",
    "warmup_epochs",
]
KEYS = sorted(VALUES) + NUMERIC + ["stregth", "fit_target", "progress"]


@st.composite
def overrides(draw) -> list[str]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True))
    out = []
    for key in keys:
        pool = VALUES.get(key, NUMERIC_OR_WORD)
        out.append(f"{key}={draw(pool)}")
    return out


NUMERIC_OR_WORD = st.one_of(NUMBERS.map(str), WORDS)
_boxes = itertools.count()


def _sandbox(tmp_path: Path, sentinel: Path) -> Path:
    box = tmp_path / f"s{next(_boxes)}"
    box.mkdir()
    (box / "notes.txt").write_text("a file\n")
    (box / "empty").mkdir()
    (box / "evil.pt").write_bytes(planted_pickle(sentinel))
    return box


@settings(max_examples=examples(40))
@given(more=overrides())
def test_generated_search_settings(tmp_path, sentinel, no_training, more):
    box = _sandbox(tmp_path, sentinel)
    outcome = call(box, ["search", *tiny_set("out_dir=runs", *more)])
    check(outcome, sentinel, allowed=("runs/", "runs"))
    if outcome.code == "accepted":  # exactly one run folder, holding its config and target
        folders = {p.split("/")[0] for p in outcome.created}
        assert len(folders) == 1, outcome.created


@settings(max_examples=examples(15))
@given(
    more=overrides(),
    flags=st.lists(
        st.sampled_from(
            [
                ["--strengths", "0.1,0.1"],
                ["--strengths", ""],
                ["--budgets", "1kB,1000B"],
                ["--budgets", "2kB"],
                ["--methods", "joint,joint"],
                ["--methods", "joint,uniform"],
                ["--uniform-bits", "3"],
                ["--uniform-bits", "8,8"],
                ["--vary", "method_options.nosuch=1,2"],
                ["--vary", "lr=1e-3,1e-2"],
                ["--vary", "stregth=1"],
            ]
        ),
        max_size=2,
    ),
)
def test_generated_sweep_settings(tmp_path, sentinel, no_training, more, flags):
    box = _sandbox(tmp_path, sentinel)
    argv = ["sweep", *tiny_set("out_dir=runs", *more), *[a for f in flags for a in f], "--no-plot"]
    check(call(box, argv), sentinel, allowed=("runs",))
