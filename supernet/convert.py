"""`to_supernet`: turn any traceable PyTorch model into a searchable supernet.

Conversion must not damage the network: with every gate on 8 bits and before any
training the supernet scores like the float model. So activation clips come from a
calibration batch, quantizers are signed where the data is signed, and weights are
never rescaled.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable

import torch
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from supernet.fold import fold_batchnorm
from supernet.gated import GatedLayer
from supernet.gates import ChannelGates
from supernet.graph import SEARCHABLE, UnsupportedModelError, analyze, fold_batchnorms, is_excluded
from supernet.layers import ActQuant
from supernet.network import Supernet


def trace(model: nn.Module) -> fx.GraphModule:
    """torch.fx trace with a one-line error naming the model when Python control flow defeats it."""
    try:
        return fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many types (TraceError, TypeError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedModelError(
            f"cannot trace {type(model).__name__} with torch.fx ({first}); "
            "avoid data-dependent Python control flow in forward()"
        ) from exc


CALIBRATION_SAMPLE = 32  # inputs of the conversion batch the supernet keeps (calibration_sample)


def to_supernet(
    model: nn.Module,
    example_input: Tensor,
    bits: Iterable[int] = (0, 2, 4, 8),
    act_bits: Iterable[int] = (8,),
    granularity: str = "channel",
    quantize_activations: bool = True,
    calibration: Tensor | None = None,
    exclude: Iterable[str] = (),
    fold_bn: bool = True,
    strict: bool = False,
    keep_channels: Iterable[str] = (),
) -> Supernet:
    """Replace every Conv1d/2d/3d and Linear of `model` by a gated layer (the model is not modified).

    bits: weight bit options; 0 means "pruned". granularity: "channel" (seed 001) or "layer"
    (one choice per layer, EdMIPS-like; no 0 option). Layers that must keep all channels
    (the output layer, layers meeting the input at an add) get the options without 0.
    calibration: a batch used to set the activation clips (default: example_input).
    exclude: module paths left as they are (float, unsearched); a path excludes every layer under it
    ("features.0" excludes "features.0.0"). The layers feeding an excluded one keep all their channels.
    fold_bn: fold each BatchNorm that follows a searchable layer into it (eval statistics; the
    reference approach, see supernet/fold.py); False keeps it and gates the channel after it.
    keep_channels: module paths (or their parents) whose layers keep all their channels: bits are still
    searched, pruning is not offered (nor to the layers sharing their channels through an add).
    strict: refuse a model with an op the channel analysis cannot follow (a permute to channels-last,
    LayerNorm over channels, attention, ...). By default the layers whose channels reach such an op keep
    all their channels (no 0-bit option) and only their bits are searched; `net.report()` lists them.
    """
    bits, act_bits = tuple(sorted(set(bits))), tuple(sorted(set(act_bits)))
    if granularity not in ("channel", "layer"):
        raise ValueError(f"granularity must be 'channel' or 'layer', got {granularity!r}")
    if granularity == "layer" and 0 in bits:
        raise ValueError("granularity='layer' chooses one precision per layer and cannot prune: drop 0 from bits")
    if not [b for b in bits if b > 0]:
        raise ValueError(f"bits {bits} must contain at least one non-zero bit-width")
    exclude, keep_channels = frozenset(exclude), frozenset(keep_channels)
    check_module_paths(model, exclude, "exclude")
    check_module_paths(model, keep_channels, "keep_channels")
    was_training = model.training
    model = copy.deepcopy(model).eval()
    gm = trace(model)
    bns = fold_batchnorms(gm, exclude)
    with torch.no_grad():
        ShapeProp(gm).propagate(example_input)
    info = analyze(gm, bns, exclude, strict=strict)
    for name, layer in info.layers.items():
        if is_excluded(name, keep_channels):
            info.unprunable.add(layer.group)
            info.lost.setdefault(layer.group, f"layer '{name}' is listed in keep_channels")
    if not info.layers:
        raise UnsupportedModelError(f"{type(model).__name__} has no Conv1d/Conv2d/Conv3d/Linear layer to search")
    nonzero = tuple(b for b in bits if b > 0)
    gates: dict[str, ChannelGates] = {}
    for g, size in info.group_sizes.items():
        options = nonzero if (g in info.unprunable or 0 not in bits) else bits
        gates[str(g)] = ChannelGates(options, size if granularity == "channel" else 1)
    for name, layer in info.layers.items():
        source = gm.get_submodule(name)
        if granularity == "layer":
            key = "layer:" + name.replace(".", "/")  # nn.ModuleDict keys cannot contain "."
            gates[key] = own = ChannelGates(bits, 1)
            in_gates = ((None, 0, layer.in_flow.channels),)
        else:
            own = gates[str(layer.group)]
            in_gates = tuple(
                (gates[str(g)] if g is not None else None, start, n) for g, start, n in layer.in_flow.segments
            )
        bn = copy.deepcopy(gm.get_submodule(layer.bn)) if layer.bn else None
        if bn is not None and fold_bn:
            source, bn = fold_batchnorm(source, bn), None
            layer.spec = dataclasses.replace(layer.spec, has_bias=True)
        act = ActQuant(act_bits, enabled=quantize_activations)
        _set_submodule(gm, name, GatedLayer(source, own, act, bn, in_gates, layer.in_flow.unit))
    gm.delete_all_unused_submodules()
    gm.train(was_training)
    if granularity == "layer":
        gates = {k: v for k, v in gates.items() if k.startswith("layer:")}
    net = Supernet(gm, info, nn.ModuleDict(gates), bits, act_bits, granularity)
    net.to(example_input.device)  # gates and quantizers are new modules: put them where the model computes
    # Clips come from the float model's own activations, not the supernet's (its gates start soft).
    stats = observe_inputs(model, list(info.layers), calibration if calibration is not None else example_input)
    for name in info.layers:
        set_clips(net.layer(name).act, *stats.get(name, (0.0, 1.0)))
    # a few of those inputs, kept so the exporter's planner can calibrate the grids of residual branches
    # when it plans the deployed network's RAM (deploy/buffers.py); not a parameter, not saved
    net.calibration_sample = (calibration if calibration is not None else example_input)[:CALIBRATION_SAMPLE].detach()
    return net


def check_module_paths(model: nn.Module, paths: Iterable[str], key: str) -> None:
    """ValueError (one line) naming the first of `paths` that is not a module of `model`."""
    modules = dict(model.named_modules())
    unknown = sorted(p for p in paths if not p or p not in modules)
    if unknown:
        layers = [n for n, m in modules.items() if isinstance(m, SEARCHABLE)][:3]
        raise ValueError(
            f"{key} names {unknown[0]!r}, which is not a module of {type(model).__name__} "
            f"(module paths look like {', '.join(map(repr, layers))})"
        )


def _set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


@torch.no_grad()
def observe_inputs(model: nn.Module, names: Iterable[str], batch: Tensor) -> dict[str, tuple[float, float]]:
    """(min, max) of the input of each named module of `model` on `batch`, in eval mode."""
    stats: dict[str, tuple[float, float]] = {}

    def hook(name: str):
        def record(_: nn.Module, args: tuple[Tensor, ...]) -> None:
            lo, hi = stats.get(name, (0.0, 0.0))
            stats[name] = (min(lo, float(args[0].min())), max(hi, float(args[0].max())))

        return record

    handles = [model.get_submodule(n).register_forward_pre_hook(hook(n)) for n in names]
    training = model.training
    try:
        model.eval()(batch)
    finally:
        for h in handles:
            h.remove()
        model.train(training)
    return stats


@torch.no_grad()
def set_clips(act: ActQuant, lo: float, hi: float) -> None:
    """PACT clip = largest |value| seen; signed when any value is negative."""
    act.signed.fill_(lo < 0)
    act.clip.fill_(max(abs(lo), abs(hi), 1e-6))


def calibrate(net: Supernet, batch: Tensor) -> None:
    """Re-initialise every activation clip of `net` from its own float activations on `batch`."""
    acts = {n: net.layer(n).act for n in net.layer_names}
    enabled = {n: a.enabled for n, a in acts.items()}
    for a in acts.values():
        a.enabled = False
    try:
        stats = observe_inputs(net.net, list(acts), batch)
    finally:
        for n, a in acts.items():
            a.enabled = enabled[n]
    for n, a in acts.items():
        set_clips(a, *stats.get(n, (0.0, 1.0)))


__all__ = ["SEARCHABLE", "calibrate", "check_module_paths", "to_supernet", "trace"]
