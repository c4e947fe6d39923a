"""Seed 000's three variants (quant / prune / both) and its k-sigma weight thresholds, end to end."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from search.config import ConfigError
from search.methods.importance import ksigma_mask
from search.model_file import load_model
from search.run import run
from supernet import Architecture

_IDS = itertools.count()


def _run(cfg, warm_state, **options):
    cfg = replace(
        cfg, method="importance", name=f"s000-{next(_IDS):02d}", method_options=(("t_margin", 2.0), *options.items())
    )
    metrics = run(cfg, warm_state=warm_state)
    folder = Path(cfg.out_dir) / cfg.name
    arch = Architecture.load(folder / "arch.json")
    model = load_model(folder)  # model.pt is data: rebuilt with its element masks (search.model_file)
    return metrics, arch, model


def _bits(arch):
    return [b for bits in arch.weight_bits.values() for b in bits]


def test_variants_differ_as_named(methods_cfg, warm_state):
    quant, q_arch, _ = _run(methods_cfg, warm_state, variant="quant")
    prune, p_arch, _ = _run(methods_cfg, warm_state, variant="prune")
    both, b_arch, _ = _run(methods_cfg, warm_state, variant="both")
    assert 0 not in _bits(q_arch) and min(_bits(q_arch)) < 8  # quantized, nothing pruned
    assert set(_bits(p_arch)) == {0, 8}  # pruned, every kept channel at the top bit-width
    assert 0 in _bits(b_arch) and min(b for b in _bits(b_arch) if b) < 8
    assert prune["avg_bits"] < 8 and quant["avg_bits"] < 8
    assert both["avg_bits"] < min(quant["avg_bits"], prune["avg_bits"]) + 1e-9


def test_ksigma_prunes_single_weights_and_prices_them_sparse(methods_cfg, warm_state):
    metrics, arch, model = _run(methods_cfg, warm_state, variant="prune", pruning="ksigma")
    assert set(_bits(arch)) == {8}  # no channel removed: the pruning is element-wise
    zeros = sum(int((m.weight == 0).sum()) for m in model.modules() if hasattr(m, "weight_mask"))
    assert zeros > 0  # masked weights stayed exactly 0 through the fine-tune
    assert metrics["avg_bits"] < 8.0
    assert metrics["costs"]["size_sparse"] < metrics["costs"]["size"]
    assert metrics["nonzero_weight_bits"] < 8 * metrics["costs"]["size"]


def test_ksigma_threshold_hand_count():
    w = torch.tensor([[0.1, -0.5, 2.0, -2.0]])  # std (unbiased) = 1.6159...
    assert ksigma_mask(w, 0.0).all()
    assert ksigma_mask(w, 1.0).tolist() == [[False, False, True, True]]
    assert not ksigma_mask(w, 3.0).any()


def test_unknown_variant_is_refused_before_anything_is_written(methods_cfg, warm_state):
    with pytest.raises(ConfigError, match="method option variant must be one of both, quant, prune; got 'all'"):
        _run(methods_cfg, warm_state, variant="all")
    assert not any(Path(methods_cfg.out_dir).glob(f"s000-{next(_IDS) - 1:02d}"))
