"""Seed 002's recipe options of `twonn`: [-1, 1] activations at the layer's precision (sign for
binary), float first/last layers, retraining from scratch."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from search.config import SearchConfig
from search.context import RunContext
from search.methods import get_method
from search.methods.twonn_recipe import FloatLayer, SignAct, unit_clip_act
from search.run import run
from search.rundir import Checkpoints, History
from supernet.fixed import FixedLayer
from targets import get_target
from zoo.data import load_dataset
from zoo.models import create_model

_IDS = itertools.count()


def test_unit_clip_activation_levels():
    x = torch.tensor([-3.0, -0.6, -0.1, 0.0, 0.2, 0.5, 0.9, 4.0])
    assert unit_clip_act(1)(x).tolist() == [-1, -1, -1, 0, 1, 1, 1, 1]  # sign, sign(0) = 0 as tf.sign
    assert unit_clip_act(2)(x).tolist() == [-1, -1, 0, 0, 0, 0, 1, 1]  # levels -1, 0, 1
    q3 = unit_clip_act(3)(x)  # levels k / 3, k = -3..3
    assert torch.allclose(q3, torch.tensor([-1.0, -2 / 3, 0, 0, 1 / 3, 2 / 3, 1, 1]))
    x.requires_grad_(True)
    unit_clip_act(1)(x).sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 1, 1, 1, 0]  # straight-through inside the clip only


def _ctx(tmp_path, **options):
    data = load_dataset("synthetic", seed=0, train_subset=128)
    cfg = SearchConfig(
        method="twonn",
        progress=False,
        out_dir=str(tmp_path),
        finetune_epochs=1,
        batch_size=32,
        method_options=(("delta", 0.0), *options.items()),
    )
    return RunContext(
        cfg, tmp_path, data, get_target("generic"), "size", History(tmp_path / "h.csv"), Checkpoints(tmp_path / "ck")
    )


def test_thesis_recipe_builds_the_hybrid_network(tmp_path):
    ctx = _ctx(tmp_path, activations="thesis", first_last="float", retrain="scratch", delta=1e9)
    torch.manual_seed(0)
    model = create_model("digits_cnn", 4, (1, 8, 8))
    result = get_method("twonn")(model, ctx)
    small = result.build()
    names = result.net.layer_names
    first, last = small.get_submodule(names[0]), small.get_submodule(names[-1])
    assert isinstance(first, FloatLayer) and isinstance(last, FloatLayer) and not first.act.enabled
    assert torch.equal(first.quantized_weight(), first.weight)  # float32, not quantized
    middle = [small.get_submodule(n) for n in names[1:-1]]
    assert all(isinstance(m, FixedLayer) and isinstance(m.act, SignAct) for m in middle)  # delta 1e9: binary
    warm = result.net.layer(names[1]).weight.detach()
    assert not torch.allclose(middle[0].weight, warm[: middle[0].weight.shape[0]])  # from scratch
    specs = [result.net.specs[n] for n in (names[0], names[-1])]
    weights = sum(s.weights_per_channel * s.out_channels for s in specs)
    assert result.extra_costs["size"] == 3 * weights  # float32 = 8 bits in arch.json + 3 bytes per weight
    assert small(ctx.data.val.batch(slice(0, 4))[0]).shape == (4, 4)


def test_two_bit_layers_get_two_bit_unit_clip_inputs(tmp_path):
    ctx = _ctx(tmp_path, activations="thesis")
    torch.manual_seed(0)
    result = get_method("twonn")(create_model("digits_cnn", 4, (1, 8, 8)), ctx)
    small = result.build()
    for n in result.net.layer_names[1:-1]:  # delta 0: every middle layer significant -> 2 bits
        act = small.get_submodule(n).act
        assert act.options == (2,) and float(act.clip) == 1.0 and bool(act.signed) and not act.clip.requires_grad


def test_thesis_recipe_end_to_end(methods_cfg, warm_state):
    cfg = replace(
        methods_cfg,
        method="twonn",
        name=f"s002-{next(_IDS)}",
        method_options=(("activations", "thesis"), ("first_last", "float")),
    )
    metrics = run(cfg, warm_state=warm_state)
    assert 0.0 <= metrics["test_acc"] <= 1.0 and metrics["search_significant_layers"] >= 0
    assert (Path(cfg.out_dir) / cfg.name / "model.pt").is_file()


def test_bad_recipe_word_is_refused(methods_cfg, warm_state):
    cfg = replace(methods_cfg, method="twonn", method_options=(("activations", "sign"),))
    with pytest.raises(ValueError, match="activations must be one of pact, thesis"):
        run(cfg, warm_state=warm_state)
