"""One record per method: MethodSpec, its typed options, and what the rest of bitgate asks of it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pytest

from search.config import ConfigError, SearchConfig
from search.methods import METHODS, MethodOptions, method_names, method_spec, register_method, require, spec_of_label
from search.run import default_name, resolve
from search.sweep import SweepConfig


@pytest.mark.parametrize("name", method_names())
def test_every_method_has_a_spec_whose_options_are_frozen_and_default_constructible(name):
    spec = method_spec(name)
    assert spec.name == name and callable(spec.fn)
    opts = spec.options()  # every option has its default in the dataclass
    assert dataclasses.is_dataclass(opts) and spec.options.__dataclass_params__.frozen
    assert spec.check(SearchConfig(method=name)) == opts  # no options given: the defaults
    assert spec.knob is None or spec.knob in {f.name for f in dataclasses.fields(spec.options)}


@pytest.mark.parametrize("name", method_names())
def test_an_unknown_option_is_refused_in_one_line_naming_the_known_ones(name):
    spec = method_spec(name)
    with pytest.raises(ConfigError) as err:
        spec.check(SearchConfig(method=name, method_options=(("colour", 1.0),)))
    known = [f.name for f in dataclasses.fields(spec.options)]
    assert "method_options.colour" in str(err.value) and "\n" not in str(err.value)
    assert all(k in str(err.value) for k in known) and (known or "none" in str(err.value))


def test_options_are_typed_and_validated():
    opts = method_spec("admm").check(SearchConfig(method="admm", method_options=(("rho", 0.001),)))
    assert (opts.rho, opts.rho_max, opts.budget_frac, opts.sparsity) == (0.001, 0.3, 0.25, "channel")
    cfg = SearchConfig(method="twonn-cluster", method_options=(("clusters", 4.0),))
    cluster = method_spec("twonn-cluster").check(cfg)
    assert cluster.clusters == 4 and isinstance(cluster.clusters, int) and cluster.delta is None
    bad = [
        ("admm", ("rho", -1.0), "rho must be > 0"),
        ("twonn-cluster", ("clusters", 4.5), "whole number"),
        ("twonn-cluster", ("codebook_bits", 12.0), "codebook_bits must be 8, 16 or 32"),
        ("importance", ("t_margin", "wide"), "t_margin must be a finite number"),
        ("importance", ("variant", "all"), "variant must be one of both, quant, prune; got 'all'"),
    ]
    for method, pair, message in bad:
        with pytest.raises(ConfigError, match=message):
            method_spec(method).check(SearchConfig(method=method, method_options=(pair,)))


def test_word_options_come_from_the_literal_fields():
    assert method_spec("importance").word_options() == {
        "variant": ("both", "quant", "prune"),
        "pruning": ("channel", "ksigma"),
    }
    assert method_spec("twonn").word_options()["retrain"] == ("finetune", "scratch")
    assert method_spec("joint").word_options() == {}


def test_a_run_refuses_a_bad_option_before_writing_anything(tmp_path):
    cfg = SearchConfig(method="joint", method_options=(("rho", 0.1),), out_dir=str(tmp_path / "runs"))
    with pytest.raises(ConfigError, match="method joint has no such option; its options: none"):
        resolve(cfg)
    assert not Path(cfg.out_dir).exists()
    with pytest.raises(ConfigError, match="set cost = size_sparse"):  # a method's own check
        resolve(SearchConfig(method="admm", cost="size", method_options=(("sparsity", "unstructured"),)))


def test_a_sweep_refuses_a_knob_that_one_of_its_methods_lacks():
    spec = SweepConfig.from_dict({"methods": "importance,twonn", "vary": "method_options.t_margin=0.02,0.05"})
    points = spec.points(SearchConfig())
    resolve(points[0])
    with pytest.raises(ConfigError, match="method twonn has no such option"):
        resolve(points[-1])


def test_what_the_orchestration_asks_of_a_spec():
    uniform = method_spec("uniform")
    cfg = SearchConfig(method="uniform", uniform_bits=4, budget=3000.0)
    assert uniform.label(cfg) == "uniform-w4" and not uniform.takes_budget and not uniform.reads_strength
    assert default_name(cfg) == "digits_cnn-uniform-w4-generic-seed0"  # no budget in the name: it takes none
    assert default_name(replace(cfg, method="joint")) == "digits_cnn-joint-generic-b3000-seed0"
    assert not method_spec("channel-mps").prunes and method_spec("joint").prunes
    assert method_spec("joint-path").needs_path_search and not method_spec("joint").needs_path_search
    points = SweepConfig.from_dict({"methods": "uniform", "uniform_bits": "8,2"}).labelled_points(cfg)
    assert [(p.uniform_bits, p.budget, v) for p, v in points] == [
        (8, None, {"uniform_bits": 8}),
        (2, None, {"uniform_bits": 2}),
    ]


def test_result_labels_find_their_method():
    assert spec_of_label("uniform-w4").name == "uniform"
    assert spec_of_label("importance-quant-ksigma").name == "importance"
    assert spec_of_label("twonn-cluster").name == "twonn-cluster"  # its own name beats the prefix twonn
    assert spec_of_label("twonn-thesis").name == "twonn"
    assert spec_of_label("someone-elses") is None


def test_registering_is_one_call_and_refuses_a_taken_name_or_style(monkeypatch):
    method_names()
    monkeypatch.setattr("search.methods.registry.METHODS", dict(METHODS))

    @dataclass(frozen=True)
    class GreedyOptions(MethodOptions):
        steps: int = 3
        order: Literal["large", "small"] = "large"

        def __post_init__(self) -> None:
            require(self.steps >= 1, "steps must be >= 1", self.steps)

    @register_method("greedy-test", options=GreedyOptions, reads_strength=False, knob="steps", style=19)
    def greedy(model, ctx):
        raise NotImplementedError

    spec = method_spec("greedy-test")
    assert spec.fn is greedy and spec.knob == "steps" and spec.styles == {"greedy-test": 19}
    assert spec.check(SearchConfig(method="greedy-test", method_options=(("order", "small"),))).order == "small"
    with pytest.raises(KeyError, match="already registered"):
        register_method("greedy-test")(greedy)
    with pytest.raises(KeyError, match="plot style slot of other .*greedy-test.* is already taken"):
        register_method("other", style=19)(greedy)
