"""Generated runs that really train (one epoch per phase on 8x8 synthetic data): a setting the checks let
through must train to the end, or fail in a way the checks could not know (divergence, exit 3). A refusal
(exit 2) after the run folder exists is a check that came too late: it fails this property."""

from __future__ import annotations

import itertools

from conftest import tiny_set
from fuzz_helpers import call, check, examples
from hypothesis import given, settings
from hypothesis import strategies as st

METHODS = ["joint", "channel-mps", "layer-mps", "prune", "prune-then-mps", "uniform", "importance", "twonn", "admm"]
LIMITS = st.sampled_from(
    [[], ["budget=6kB"], ["budget=2kB"], ["ram_budget=600B"], ["fit_target=true"], ["budget=5kB", "ram_budget=800B"]]
)
OTHER = st.lists(
    st.sampled_from(
        [
            "target=stm32h7",
            "target=mpic",
            "target=gap8",
            "bits=0,4,8",
            "exclude=features.0",
            "keep_channels=features.3",
            "min_channels=2",
            "sampling=gumbel",
            "harden=0.5",
            "act_bits=4,8",
            "strength=3",
            "patience=1",
            "lr_schedule=cosine",
        ]
    ),
    max_size=3,
    unique=True,
)
_boxes = itertools.count()


@settings(max_examples=examples(3))
@given(method=st.sampled_from(METHODS), limits=LIMITS, other=OTHER)
def test_generated_runs_train_or_are_refused_up_front(tmp_path, sentinel, method, limits, other):
    box = tmp_path / f"t{next(_boxes)}"
    box.mkdir()
    outcome = call(box, ["search", *tiny_set("out_dir=runs", f"method={method}", *limits, *other)])
    check(outcome, sentinel, allowed=("runs",))
    assert outcome.code in (0, 2, 3), outcome.err
    if outcome.code == 0:
        (run,) = (box / "runs").iterdir()
        written = {p.name for p in run.iterdir()}
        assert {"config.json", "arch.json", "metrics.json", "model.pt", "target.json"} <= written
