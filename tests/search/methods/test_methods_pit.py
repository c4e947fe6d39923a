"""pit-then-mps: float pruning search, a physical cut and a fine-tune, then mixed precision on the cut."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from search.methods.pit import pruned_float_network
from search.run import run
from supernet import Architecture, to_supernet
from zoo.models import create_model


def test_pruned_float_network_is_the_materialized_function_without_quantizers():
    torch.manual_seed(0)
    model = create_model("digits_cnn", 4, (1, 8, 8)).eval()
    x = torch.randn(16, 1, 8, 8)
    net = to_supernet(model, x, bits=(0, 8), quantize_activations=False)
    bits = {
        n: tuple(0 if (c % 3 == 0 and n != net.layer_names[-1]) else 8 for c in range(s.out_channels))
        for n, s in net.specs.items()
    }
    small = pruned_float_network(net, Architecture(bits, {n: 8 for n in bits}, {})).eval()
    convs = [m for m in small.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert [m.weight.shape[0] for m in convs] == [10, 21, 21, 4]  # 16, 32, 32 channels minus every third
    assert convs[1].weight.shape[1] == 10  # the consumer lost the matching inputs
    net2 = to_supernet(small, x, bits=(2, 4, 8))
    assert [s.out_channels for s in net2.specs.values()] == [10, 21, 21, 4]
    assert small(x).shape == (16, 4)


def test_pit_then_mps_materializes_between_its_phases(methods_cfg, warm_state):
    cfg = replace(methods_cfg, method="pit-then-mps", name="pit-e2e", strength=20.0, arch_lr=0.3)
    metrics = run(cfg, warm_state=warm_state)
    folder = Path(cfg.out_dir) / cfg.name
    arch = Architecture.load(folder / "arch.json")
    original, kept = arch.meta["original_channels"], arch.meta["pit_kept_channels"]
    assert sum(kept.values()) < sum(original.values())  # phase one pruned something ...
    assert {n: len(b) for n, b in arch.weight_bits.items()} == kept  # ... and phase two searched the cut network
    assert all(b > 0 for bits in arch.weight_bits.values() for b in bits)  # mixed precision only, no 0
    phases = [row.split(",")[0] for row in (folder / "history.csv").read_text().splitlines()[1:]]
    order = [p for i, p in enumerate(phases) if p in ("pit", "pit-finetune", "search-mps") and p not in phases[:i]]
    assert order == ["pit", "pit-finetune", "search-mps"]
    assert metrics["search_seconds_pit_finetune"] > 0
    assert metrics["costs"]["size"] == pytest.approx(metrics["cost"])


def test_pit_then_mps_cuts_a_resnet_through_its_residual_groups(tiny_model, tmp_path):
    from search.config import SearchConfig
    from search.context import RunContext
    from search.methods import get_method
    from search.rundir import Checkpoints, History
    from supernet import materialize
    from targets import get_target
    from zoo.data import DataSplits, InMemoryDataset

    model, _ = tiny_model("resnet")
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> InMemoryDataset:
        return InMemoryDataset(torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g))

    data = DataSplits("random", split(64), split(32), split(32), num_classes=3, in_shape=(3, 8, 8))
    cfg = SearchConfig(
        method="pit-then-mps",
        search_epochs=1,
        finetune_epochs=1,
        batch_size=32,
        progress=False,
        out_dir=str(tmp_path),
        strength=50.0,
        arch_lr=0.5,
    )
    ctx = RunContext(
        cfg, tmp_path, data, get_target("generic"), "size", History(tmp_path / "h.csv"), Checkpoints(tmp_path / "ck")
    )
    result = get_method("pit-then-mps")(model.train(), ctx)
    result.net.check(result.arch)
    assert materialize(result.net, result.arch)(data.val.batch(slice(0, 4))[0]).shape == (4, 3)
