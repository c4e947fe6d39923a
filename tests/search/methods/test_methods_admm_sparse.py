"""admm with sparsity = unstructured: single weights pruned, the budget met in exported bytes exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from deploy import export
from search.config import ConfigError
from search.methods.sparsity import weight_counts, with_nonzeros
from search.model_file import load_model
from search.run import run
from supernet import Architecture


def test_unstructured_admm_meets_its_budget_in_exported_bytes(methods_cfg, warm_state, tmp_path):
    cfg = replace(
        methods_cfg,
        method="admm",
        cost="size_sparse",
        budget=2500.0,
        name="admm-unstructured",
        method_options=(("sparsity", "unstructured"),),
    )
    metrics = run(cfg, warm_state=warm_state)
    folder = Path(cfg.out_dir) / cfg.name
    arch = Architecture.load(folder / "arch.json")
    assert all(b >= 2 for bits in arch.weight_bits.values() for b in bits)  # no channel removed
    assert metrics["search_arch_cost"] <= 2500.0  # the projection's masks fit ...
    assert metrics["cost"] <= metrics["search_arch_cost"]  # ... and quantization zeros only save more
    assert metrics["costs"]["size"] > 2500.0  # dense storage of the same network would not fit
    # (the bitmask alone costs 1 bit per weight: 1,762 bytes here, the floor of this format)
    assert metrics["search_kept_weights"] < 14_096  # digits_cnn's weights: 144 + 4,608 + 9,216 + 128
    # the exporter writes exactly the priced bytes
    model = load_model(folder)  # model.pt is data: rebuilt with its element masks (search.model_file)
    x = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    report = export(model, x, tmp_path / "export", formats="c", target="generic", sparse=True)
    assert report.sparse_weight_bytes == metrics["costs"]["size_sparse"] <= 2500.0
    assert metrics["nonzero_weight_bits"] <= 8 * report.sparse_weight_bytes


def test_unstructured_needs_the_sparse_cost(methods_cfg, warm_state):
    cfg = replace(methods_cfg, method="admm", cost="size", method_options=(("sparsity", "unstructured"),))
    with pytest.raises(ConfigError, match="set cost = size_sparse"):
        run(cfg, warm_state=warm_state)


def test_projection_keeps_the_largest_weights_within_budget(methods_cfg, tmp_path):
    from search.context import RunContext
    from search.methods.admm_sparse import UnstructuredProjection
    from search.rundir import Checkpoints, History
    from supernet import to_supernet
    from targets import get_target
    from zoo.data import load_dataset
    from zoo.models import create_model

    torch.manual_seed(0)
    data = load_dataset("synthetic", seed=0, train_subset=64)
    net = to_supernet(create_model("digits_cnn", 4, (1, 8, 8)), data.train.batch(slice(0, 32))[0], bits=(0, 2, 4, 8))
    ctx = RunContext(
        replace(methods_cfg, cost="size_sparse"),
        tmp_path,
        data,
        get_target("generic"),
        "size_sparse",
        History(tmp_path / "h.csv"),
        Checkpoints(tmp_path / "ck"),
    )
    proj = UnstructuredProjection(net, ctx, (2, 4, 8), 2200.0)
    z = {n: net.layer(n).weight.detach() for n in net.layer_names}
    arch, v = proj.project(z)
    assert proj.cost(arch) <= 2200.0
    for n in net.layer_names:
        kept, dropped = z[n][proj.masks[n]].abs(), z[n][~proj.masks[n]].abs()
        assert torch.equal(v[n] != 0, proj.masks[n] & (v[n] != 0))  # V is zero outside the mask
        if len(dropped) and len(kept):
            assert float(dropped.median()) <= float(kept.median())
    # the cost of the masks equals the cost model on the materialized masked network
    from search.methods.sparsity import masked_network

    small = masked_network(net, arch, proj.masks)
    counts = weight_counts(net, arch, small)
    from cost_models import evaluate

    priced = float(evaluate("size_sparse", with_nonzeros(net.layer_choices(arch), counts), get_target("generic")))
    assert priced <= proj.cost(arch)
