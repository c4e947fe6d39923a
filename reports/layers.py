"""The table behind an architecture picture: per searchable layer, its channels by bit-width and its cost.

Built from a run folder's JSON files only (config.json, arch.json, metrics.json; never model.pt or a
checkpoint). Per-layer costs come from pricing each layer's one-hot choices alone with the same cost
models the search used; only costs that add up over layers (bytes, cycles) get per-layer shares,
a peak (activation RAM) does not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

import cost_models
from search.config import SearchConfig
from search.methods import spec_of_label
from search.preflight import run_target
from search.pricing import layer_choices
from search.run_files import is_point, read_arch, read_config, read_json_object, read_metrics
from search.rundir import RunFileError
from supernet import Architecture, Supernet, to_supernet
from targets import Target
from zoo.safe_load import one_line_of


@dataclass(frozen=True)
class LayerRow:
    """One searchable layer: channel count per bit-width (0 = pruned) and its share of each shown cost."""

    name: str
    channels: dict[int, int]  # bits -> number of output channels, high bits first
    group: str = ""  # tag shared by layers whose outputs meet at an add ("" = gates of its own)
    costs: dict[str, float] = field(default_factory=dict)  # shown cost -> this layer's part

    @property
    def total(self) -> int:
        return sum(self.channels.values())

    @property
    def kept(self) -> int:
        return self.total - self.channels.get(0, 0)


@dataclass(frozen=True)
class ArchSummary:
    """Everything `show` draws for one run; `rows` are in network order."""

    run: Path
    method: str
    knob: str
    target: str
    test_acc: float | None
    rows: tuple[LayerRow, ...]
    shown: tuple[str, ...]  # costs with per-layer shares, e.g. ("memory", "latency_cortexm")
    totals: dict[str, float]  # shown cost -> the run's total (metrics.json)
    reference: dict[str, float]  # shown cost -> the unpruned network at the target's top bit-width
    units: dict[str, str]
    top_bits: int


def read_json(path: Path) -> dict:
    """A run folder's JSON object; anything wrong with it is one line naming the file (search/run_files.py)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{Path(path).parent} is not a finished bitgate run (no {Path(path).name})")
    return read_json_object(path, Path(path).name)


def knob_label(cfg: SearchConfig) -> str:
    """What distinguishes a point of a sweep: its bit-width, budget or strength."""
    spec = spec_of_label(cfg.method)
    if spec is not None and spec.point_name is not None:  # uniform: "w4"
        return spec.point_name(cfg)
    knob = f"budget {cfg.budget:g}" if cfg.budget is not None else f"s{cfg.strength:g}"
    extra = ",".join(f"{k}={v:g}" for k, v in cfg.method_options)
    return f"{knob} {extra}".strip()


@functools.lru_cache(maxsize=8)
def _input_of(dataset: str, root: str | None, seed: int, val: float | None, subset: int | None) -> tuple:
    """(input shape, classes) of a run's data set: the only thing about the data a picture needs."""
    from zoo.data import load_dataset

    data = load_dataset(dataset, root=root, seed=seed, val_fraction=val, train_subset=subset)
    return tuple(data.in_shape), data.num_classes


@functools.lru_cache(maxsize=8)
def _supernet(
    model: str,
    in_shape: tuple,
    classes: int,
    bits: tuple,
    act_bits: tuple,
    exclude: tuple = (),
    keep_channels: tuple = (),
) -> Supernet:
    """The run's network structure (untrained: shapes and channel groups are all a picture needs)."""
    from zoo.models import create_model

    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        torch.manual_seed(0)
        net = create_model(model, classes, in_shape)
        return to_supernet(
            net, torch.randn(2, *in_shape), bits=bits, act_bits=act_bits, exclude=exclude, keep_channels=keep_channels
        )


def network_of(cfg: SearchConfig, arch: Architecture, target: Target) -> Supernet:
    shape, classes = _input_of(cfg.dataset, cfg.data_root, cfg.seed, cfg.val_fraction, cfg.train_subset)
    bits = tuple(sorted(set(target.weight_bits) | {b for bs in arch.weight_bits.values() for b in bs}))
    net = _supernet(
        cfg.model,
        shape,
        classes,
        bits,
        tuple(sorted(set(target.act_bits))),
        tuple(cfg.exclude),
        tuple(cfg.keep_channels),
    )  # the run's exclude= / keep_channels= (issue 17)
    net.check(arch)
    return net


def checked_network(run_dir: Path, cfg: SearchConfig, metrics: dict, arch: Architecture) -> tuple[Target, Supernet]:
    """The run's target and network, with `arch` checked against it (one line naming arch.json if it does
    not fit: the layers or channels of another network)."""
    target = run_target(replace(cfg, target=metrics["target"]), run_dir)
    try:
        return target, network_of(cfg, arch, target)
    except ValueError as exc:  # Supernet.check
        raise RunFileError(f"{run_dir / 'arch.json'} does not fit {cfg.model} ({one_line_of(exc)})") from None


def shown_costs(metrics: dict, target: Target) -> tuple[str, ...]:
    """A size cost (the run's own if it is in bytes, else memory, else size) and the target's latency."""
    usable = [c for c in cost_models.applicable(target) if c in metrics["costs"]]
    unit = {c: cost_models.get(c).unit for c in usable}
    own = metrics.get("cost_name")
    size = next((c for c in (own, "memory", "size") if c in usable and unit[c] == "bytes"), None)
    cycles = next((c for c in [own, *usable] if c in usable and unit[c] == "cycles"), None)
    return tuple(c for c in (size, cycles) if c is not None)


def _per_layer(net: Supernet, arch: Architecture, target: Target, costs: tuple[str, ...]) -> dict[str, list[float]]:
    """Each cost of each layer priced alone; a cost whose parts do not add up to its total is dropped."""
    choices = layer_choices(net, arch)
    out = {}
    with torch.no_grad():
        for name in costs:
            parts = [float(cost_models.evaluate(name, [ch], target)) for ch in choices]
            total = float(cost_models.evaluate(name, choices, target))
            if abs(sum(parts) - total) <= 1e-6 * max(1.0, abs(total)):
                out[name] = parts
    return out


def group_tags(net: Supernet) -> dict[str, str]:
    """Layers that share one set of gates (residual adds, depthwise convs) get the same letter A, B, ..."""
    tags, letter = {}, 0
    for layers in net.groups_of_layers().values():
        if len(layers) > 1:
            tag = chr(ord("A") + letter % 26) + ("" if letter < 26 else str(letter // 26))
            tags.update(dict.fromkeys(layers, tag))
            letter += 1
    return tags


def summarize(run_dir: str | Path) -> ArchSummary:
    """Read a finished run folder and price its architecture layer by layer."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    cfg = read_config(run_dir)
    if not (run_dir / "metrics.json").exists():
        raise FileNotFoundError(f"{run_dir} is not a finished bitgate run (no metrics.json)")
    metrics = read_metrics(run_dir / "metrics.json")
    if not is_point(metrics):
        raise ValueError(f"{run_dir} has no costs in metrics.json (a sweep's warm-up, not a search run)")
    arch = read_arch(run_dir / "arch.json")
    target, net = checked_network(run_dir, cfg, metrics, arch)
    shown = shown_costs(metrics, target)
    parts = _per_layer(net, arch, target, shown)
    shown = tuple(c for c in shown if c in parts)
    top = max(target.weight_bits)
    full = Architecture.uniform({n: s.out_channels for n, s in net.specs.items()}, top, max(target.act_bits))
    reference = cost_models.evaluate_all(layer_choices(net, full), target)
    tags = group_tags(net)
    rows = []
    for i, name in enumerate(net.layer_names):
        bits = arch.weight_bits[name]
        counts = {b: bits.count(b) for b in sorted(set(bits), reverse=True)}
        rows.append(LayerRow(name, counts, tags.get(name, ""), {c: parts[c][i] for c in shown}))
    return ArchSummary(
        run=run_dir,
        method=str(metrics.get("method", cfg.method)),
        knob=knob_label(cfg),
        target=target.name,
        test_acc=metrics.get("test_acc"),
        rows=tuple(rows),
        shown=shown,
        totals={c: float(metrics["costs"][c]) for c in shown},
        reference={c: float(reference[c]) for c in shown},
        units={c: cost_models.get(c).unit for c in shown},
        top_bits=top,
    )
