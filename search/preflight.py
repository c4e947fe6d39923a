"""One validation pass before a run (or a sweep) folder exists: everything a run will need, resolved.

A refusal found after the folder is made leaves a half-written run behind, and one found after the
warm-up also costs its epochs. So before anything is written, `check_run` resolves the target (with
its deploy flavour), the cost, the method and its options, the output folder (length, type,
permission), the limits that apply to the method and their floors (Flash and RAM, priced on the
run's own exclude/keep_channels), and builds the model exactly as the run will: seeded, started
from its weights file, fed one batch of the data set's shape, and converted to a supernet with
the run's exclude/keep_channels. That conversion is where a model the search cannot handle is
refused (a layer called twice, no searchable layer left, an input of the wrong shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import cost_models
from search.config import ConfigError, SearchConfig
from search.device import resolve_device
from search.methods import method_spec
from search.methods.result import MethodFn
from search.validate import check_budget, check_settings
from supernet import to_supernet
from targets import Target, get_target
from targets.registry import UnknownTarget
from targets.snapshot import TARGET_FILE, load_target_copy
from zoo.data import DataSplits
from zoo.models import create_model
from zoo.pretrained import load_pretrained
from zoo.safe_load import one_line_of


@dataclass(frozen=True)
class Checked:
    """What the checks resolved, for the run to use as it is."""

    target: Target
    cost: str
    method: MethodFn
    model: nn.Module  # built as the run builds it (seeded; started from `pretrained` when asked)


def run_target(cfg: SearchConfig, run_dir: Path | None = None) -> Target:
    """The run's target, deployed with the run's flavour (its own when the run names none).

    run_dir: a run folder whose kept copy of the target (targets/snapshot.py) stands in when the name is
    not registered here (a device from BITGATE_TARGETS_PATH, read in a shell without it)."""
    try:
        target = get_target(cfg.target)
    except UnknownTarget:
        if run_dir is None or not (Path(run_dir) / TARGET_FILE).exists():
            raise
        target = load_target_copy(run_dir)
    return target.with_flavour(cfg.flavour)


def resolve(cfg: SearchConfig) -> tuple[Target, str, MethodFn]:
    """Target, cost name and method, validated before anything is written (the device too)."""
    resolve_device(cfg.device)
    target = run_target(cfg)
    cost = cfg.cost or target.costs[0]
    if cost not in cost_models.applicable(target):
        known = ", ".join(cost_models.applicable(target))
        raise ConfigError(f"cost {cost!r} does not apply to target {target.name!r}; use one of {known}")
    unsupported = sorted(set(cfg.act_bits) - set(target.act_bits))
    if unsupported:
        raise ConfigError(
            f"act_bits {list(cfg.act_bits)}: target {target.name!r} has no kernels for {unsupported}-bit "
            f"activations; choose among {list(target.act_bits)}"
        )
    spec = method_spec(cfg.method)
    spec.check(cfg, cost)  # its options and checks
    check_limits_apply(cfg)
    if cfg.pretrained is not None and not Path(cfg.pretrained).expanduser().is_file():
        raise ConfigError(f"pretrained: weights file {cfg.pretrained} does not exist")
    return target, cost, spec.fn


def check_limits_apply(cfg: SearchConfig) -> None:
    """A limit the method would ignore is refused, not silently dropped (uniform w8 with ram_budget=100B
    used to finish at 2,560 B with no word)."""
    spec = method_spec(cfg.method)
    if spec.takes_budget:
        return
    given = [k for k in ("budget", "ram_budget") if getattr(cfg, k) is not None] + (["fit_target"] * cfg.fit_target)
    if given:
        raise ConfigError(
            f"{given[0]} does not apply to method {cfg.method}: its network is fixed by "
            f"{spec.points_from}; drop {given[0]}, or use a method that searches (e.g. joint)"
        )


def build_model(cfg: SearchConfig, data: DataSplits, pretrained: bool = True) -> nn.Module:
    """The run's float model: seeded by cfg.seed, started from cfg.pretrained (when asked and set)."""
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, data.num_classes, data.in_shape)
    if pretrained and cfg.pretrained is not None:  # a bad weights file is refused before writing
        load_pretrained(model, cfg.pretrained)
    return model


def check_input(model: nn.Module, name: str, in_shape: tuple[int, ...], source: str) -> torch.Tensor:
    """A zero batch of `in_shape` through the model (returned), or one line saying it does not fit.
    source: where the shape came from ("the inputs of data set digits", "--in-shape")."""
    if not in_shape or any(int(s) < 1 for s in in_shape):
        raise ConfigError(f"{source}: an input shape needs sizes >= 1, got {tuple(in_shape)}")
    x = torch.zeros(2, *in_shape)
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x)
    except Exception as exc:  # noqa: BLE001 - whatever a model raises on a wrong input is "it does not fit"
        raise ConfigError(f"model {name} cannot take {source} (shape {tuple(in_shape)}): {one_line_of(exc)}") from None
    finally:
        model.train(was_training)
    return x


def check_model(cfg: SearchConfig, model: nn.Module, data: DataSplits, target: Target) -> None:
    """One batch of the data set's shape through the model, then the conversion the search will make."""
    x = check_input(model, cfg.model, data.in_shape, f"the inputs of data set {cfg.dataset}")
    bits = tuple(sorted({0, *(cfg.bits or target.weight_bits)}))
    try:
        with torch.no_grad():
            to_supernet(
                model, x, bits=bits, act_bits=cfg.act_bits, exclude=cfg.exclude, keep_channels=cfg.keep_channels
            )
    except ValueError as exc:  # a path exclude= names that is not there, a layer called twice, nothing to search
        raise ConfigError(one_line_of(exc)) from None


def check_run(
    cfg: SearchConfig,
    data: DataSplits,
    new_folder: bool = True,
    pretrained: bool = True,
    model: nn.Module | None = None,
) -> Checked:
    """Every check of one run, in one pass, before its folder exists (module docstring).

    model: an already checked model of the same settings (a sweep checks its model once for all points)."""
    target, cost, method = resolve(cfg)
    check_settings(cfg, target, new_folder=new_folder)
    fresh = model is None
    model = build_model(cfg, data, pretrained) if fresh else model
    with torch.random.fork_rng():  # the checks draw no number the run would have drawn
        if fresh:
            check_model(cfg, model, data, target)
        check_budget(cfg, model, data.in_shape, target, cost, cfg.min_kept)
    return Checked(target, cost, method, model)
