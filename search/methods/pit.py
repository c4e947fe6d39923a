"""pit-then-mps: seed 001's sequential baseline as its paper runs it, with a fine-tune between phases.

Motetti, Risso, Burrello et al. (arXiv 2407.01054) compare the joint search with a pipeline of
two separate tools: PIT (Risso et al., "Lightweight neural architecture search for temporal
convolutional networks at the edge", 2022) prunes output channels of the *float* network, the
pruned network is exported and fine-tuned, and a mixed-precision search then runs on it. Here:

  pit            channel-pruning search: gates {0, top bits} with float activations (PIT searches
                 the float network; the weights see top-bit (8-bit) quantization, within noise of
                 float), loss = task + strength * cost / cost_ref, no budget
  (materialize)  the argmax architecture is cut out: pruned channels and the matching inputs are
                 removed, and the result is rebuilt as a plain float network of Conv/Linear layers
  pit-finetune   float training of the pruned network (cfg.finetune_epochs)
  search-mps     a fresh supernet on the pruned network, per-channel bit-widths without the 0
                 option (strength, or cfg.budget), then discretize (+ repair to the budget)

The final arch.json describes the pruned network (its layers have fewer channels than the
original's); arch.json's meta records how many channels phase one kept per layer. `prune-then-mps`
is the same pipeline without the cut and the fine-tune (both phases on one supernet).
"""

from __future__ import annotations

import time
from dataclasses import replace

from torch import nn

from search.constraints.repair import repair
from search.context import RunContext
from search.methods import MethodResult, register_method
from search.methods.common import build_supernet
from search.methods.differentiable import calibration_batch, target_bits
from search.train import search, warmup
from supernet import discretize, materialize
from supernet.fixed import FixedLayer

_CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def float_module(layer: FixedLayer) -> nn.Module:
    """The plain Conv/Linear layer (float weights, no quantizer) a FixedLayer stands for."""
    w, op = layer.weight.detach(), layer.op
    if op.kind == "linear":
        mod = nn.Linear(w.shape[1], w.shape[0], bias=layer.bias is not None)
    else:
        mod = _CONVS[op.dims](
            w.shape[1] * op.groups,
            w.shape[0],
            tuple(w.shape[2:]),
            op.stride,
            op.padding,
            op.dilation,
            op.groups,
            bias=layer.bias is not None,
        )
    mod.weight.data.copy_(w)
    if layer.bias is not None:
        mod.bias.data.copy_(layer.bias.detach())
    return nn.Sequential(mod, layer.bn) if layer.bn is not None else mod


def pruned_float_network(net, arch) -> nn.Module:
    """materialize(net, arch) with every FixedLayer turned back into a float Conv/Linear layer."""
    model = materialize(net, arch)
    for name in net.layer_names:
        parent, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, float_module(model.get_submodule(name)))
    return model


@register_method("pit-then-mps", style=18)
def pit_then_mps(model: nn.Module, ctx: RunContext) -> MethodResult:
    bits = target_bits(ctx)
    top, nonzero = max(bits), tuple(b for b in bits if b > 0)
    no_budget = replace(ctx, cfg=replace(ctx.cfg, budget=None))
    t0 = time.perf_counter()
    pit_net = build_supernet(
        model, calibration_batch(ctx), ctx, bits=(0, top), act_bits=ctx.cfg.act_bits[-1:], quantize_activations=False
    )
    info_pit = search(pit_net, no_budget, phase="pit")
    pruned_arch = discretize(pit_net)
    kept = {n: len(pruned_arch.kept(n)) for n in pit_net.layer_names}
    small = pruned_float_network(pit_net, pruned_arch)
    t1 = time.perf_counter()
    tuned = warmup(small, ctx, phase="pit-finetune", epochs=ctx.cfg.finetune_epochs)
    t2 = time.perf_counter()
    net = build_supernet(small, calibration_batch(ctx), ctx, bits=nonzero, act_bits=ctx.cfg.act_bits)
    info_mps = search(net, ctx, phase="search-mps")
    meta = {
        "method": "pit-then-mps",
        "target": ctx.target.name,
        "model": ctx.cfg.model,
        "pit_kept_channels": kept,
        "original_channels": {n: s.out_channels for n, s in pit_net.specs.items()},
    }
    arch = discretize(net, meta)
    if ctx.cfg.budget is not None:
        arch = repair(net, arch, ctx.cost, ctx.target, ctx.cfg.budget)
    t3 = time.perf_counter()
    info = {
        **{f"pit_{k}": v for k, v in info_pit.items()},
        **{f"mps_{k}": v for k, v in info_mps.items()},
        "pit_finetune_val_acc": tuned["float_val_acc"],
        "kept_channels": sum(kept.values()),
        "seconds_pit": t1 - t0,
        "seconds_pit_finetune": t2 - t1,
        "seconds_mps": t3 - t2,
    }
    return MethodResult(net, arch, info)
