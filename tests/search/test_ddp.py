"""A DDP search on 2 CPU processes (gloo, launched by torchrun): identical gates, one run folder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from bitgate.cli import main
from search.ddp import ShardedDataset
from zoo.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent("""
    import sys
    from pathlib import Path

    import torch
    import torch.distributed as dist

    import cost_models
    import search.methods.differentiable as differentiable
    from search import ddp
    from search.config import SearchConfig
    from search.run import run

    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    ddp.setup("cpu")
    original = differentiable.search

    def recording(net, ctx, phase="search"):  # the gates and expected cost each rank ends its search with
        info = original(net, ctx, phase)
        with torch.no_grad():
            cost = float(cost_models.evaluate(ctx.cost, net.layer_choices(), ctx.target))
        alphas = [a.detach().clone() for a in net.arch_parameters()]
        torch.save({"alpha": alphas, "cost": cost, "train": type(ctx.data.train).__name__},
                   out / f"rank{dist.get_rank()}.pt")
        return info

    differentiable.search = recording
    run(SearchConfig(dataset="digits", model="digits_cnn", target="generic", cost="size", warmup_epochs=1,
                     search_epochs=2, finetune_epochs=0, batch_size=64, budget=6000, device="cpu",
                     out_dir=str(out / "runs"), progress=False))
""")


def test_sharded_batches_split_every_global_batch_evenly():
    data = load_dataset("synthetic", seed=0).train
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    world = 3
    shards = [list(ShardedDataset(data, r, world).iter_batches(order, 12)) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # every rank takes the same number of steps
    whole = list(data.iter_batches(order, 12))
    for k, (x, _) in enumerate(whole[: len(whole) - 1]):
        parts = torch.stack([shards[r][k][0] for r in range(world)], 1)  # (4, world, ...): item r + i*world
        assert torch.equal(parts.flatten(0, 1), x)


def test_ddp_search_on_two_cpu_processes_keeps_gates_equal(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        str(script),
        str(tmp_path),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "find_unused_parameters=True" not in done.stderr  # no per-step graph traversal that finds nothing
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["train"] == r1["train"] == "ShardedDataset"  # each rank trained on its half of every batch
    assert all(torch.equal(a, b) for a, b in zip(r0["alpha"], r1["alpha"], strict=True))
    assert r0["cost"] == r1["cost"]
    init = torch.tensor([0.0, 2 / 8, 4 / 8, 1.0]).unsqueeze(1)  # alpha[b] = b / max(B) before the search
    assert any(not torch.allclose(a, init.expand_as(a)) for a in r0["alpha"])
    (folder,) = (tmp_path / "runs").iterdir()  # rank 1 wrote nothing
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["cost"] <= 6000


def test_ddp_flag_launches_torchrun_with_the_same_settings(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(subprocess, "run", lambda cmd: seen.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    config = tmp_path / "c.toml"
    assert main(["search", "--ddp", "2", "--config", str(config), "--set", "device=cuda", "--set", "seed=3"]) == 0
    (cmd,) = seen
    assert cmd[1:] == [
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "bitgate",
        "search",
        "--config",
        str(config),
        "--set",
        "device=cuda",
        "--set",
        "seed=3",
    ]
    assert main(["search", "--ddp", "0"]) == 2
