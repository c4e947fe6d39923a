"""`bitgate verify RUN`: a finished Cortex-M run exported, run on emulated cores, and set beside its costs.

Everything that can be refused is refused before anything is written (one line, exit 2): no such run,
an unfinished run, an unknown core, a run whose target is not a Cortex-M or was priced for another
flavour than cmsis-nn, a number of inputs <= 0, a missing cross toolchain / QEMU / CMSIS-NN. Then the
run is exported (RUN/export/cmsis-nn), the first N test inputs run on every core (deploy/verify.py), and
RUN/verify.json is written: the measured figures next to the predicted ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import cost_models
from cost_models.latency_cortexm import call_instructions, instructions, target_table
from deploy.cmsis_torch import cmsis_network
from deploy.firmware import boards, find_cmsis_nn, find_toolchain
from deploy.verify import LatencyPrediction, Prediction, VerifyResult, verify_export
from search.config import ConfigError, SearchConfig
from search.model_file import load_arch, load_model
from search.pricing import layer_choices, price_as_exported
from search.run import load_data, load_run_config, run_target
from search.run_files import read_metrics
from search.rundir import atomic_write_json
from supernet import Architecture, to_supernet
from supernet.graph import UnsupportedModelError
from targets import get_target, target_names
from targets.target import Target
from zoo import create_model

ALL_CORES = ("m4", "m7", "m33", "m55")  # `--core all`; m3 (plain C, no DSP) only when named
FLAVOUR = "cmsis-nn"


def parse_cores(spec: str) -> tuple[str, ...]:
    """'all', one core, or a comma-separated list, checked against the firmware's boards."""
    known = boards()
    names = ALL_CORES if spec == "all" else tuple(dict.fromkeys(s.strip() for s in spec.split(",") if s.strip()))
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ConfigError(
            f"--core {spec!r}: unknown core {unknown[0] if unknown else ''!r}; choose from {', '.join(known)} or all"
        )
    return names


def check_run(run_dir: Path) -> tuple[SearchConfig, dict[str, Any], Target]:
    """The run's config, metrics and target, or one line saying why it cannot be verified."""
    cfg = load_run_config(run_dir)  # no folder / no config.json: one line
    metrics_path = run_dir / "metrics.json"
    if not (run_dir / "model.pt").exists() or not metrics_path.exists():
        raise ConfigError(f"{run_dir} has not finished (no model.pt / metrics.json): resume it with --resume")
    metrics = read_metrics(metrics_path)  # one line naming the file for anything wrong in it
    target = run_target(cfg, run_dir)
    if target.family != "cortex-m":
        raise ConfigError(
            f"{run_dir} was searched for {target.name!r} (family {target.family!r}): verify runs "
            "Cortex-M targets on emulated cores"
        )
    if target.flavour != FLAVOUR:
        raise ConfigError(
            f"{run_dir} was priced for the {target.flavour!r} flavour; verify measures the "
            f"{FLAVOUR} export (search with flavour={FLAVOUR})"
        )
    return cfg, metrics, target


def check_tools() -> None:
    """One line naming what to install when the firmware cannot be built here."""
    problem = find_toolchain().problem
    if problem is None and find_cmsis_nn() is None:
        problem = "CMSIS-NN sources not found: set CMSIS_NN_PATH or put them in shared/third_party/CMSIS-NN"
    if problem:
        raise ConfigError(problem)


def target_core(target: Target) -> str | None:
    """The emulated core a Cortex-M target's latency table was measured on (None: it names no table)."""
    try:
        return target_table(target).core
    except (ValueError, OSError):
        return None


def latency_targets(run_target_: Target, cores: Sequence[str]) -> dict[str, Target]:
    """core -> the target whose latency model predicts it: the run's own for its core, else the first
    registered Cortex-M target measured on that core (none: no prediction for that core)."""
    found: dict[str, Target] = {}
    for t in [run_target_, *(get_target(n) for n in target_names())]:
        if t.family != "cortex-m":
            continue
        core = target_core(t)
        if core in cores and core not in found:
            found[core] = t
    return found


def _latency(choices, target: Target) -> LatencyPrediction:
    """latency_cortexm on `target`: its cycles, and the measured-instruction model under them, in total and
    per layer (each layer's precision groups' calls and copies, as the firmware's per-layer counts)."""
    table = target_table(target)
    with torch.no_grad():
        cycles = float(cost_models.evaluate("latency_cortexm", choices, target))
        total = float(instructions(choices, table, target))
        calls = call_instructions(choices, table, target).tolist()
        per_layer = {ch.spec.name: value for ch, value in zip(choices, calls, strict=True)}
    return LatencyPrediction(
        target=target.name,
        cost="latency_cortexm",
        unit=cost_models.get("latency_cortexm").unit,
        total=cycles,
        instructions=total,
        per_layer=per_layer,
    )


def predict(
    cfg: SearchConfig,
    metrics: dict[str, Any],
    target: Target,
    arch: Architecture,
    model: torch.nn.Module,
    calibration: torch.Tensor,
    classes: int,
    cores: Sequence[str],
) -> Prediction:
    """Flash and RAM as the search priced them (metrics.json); latency evaluated now, per core, on a supernet
    of the run's model with the run's architecture, priced as exported (its activation grids, and the value
    ranges the export calibrates on: they decide where the cmsis-nn plan requantizes)."""
    costs = metrics.get("costs", {})
    by_core = latency_targets(target, cores)
    latency: dict[str, LatencyPrediction] = {}
    if by_core:
        torch.manual_seed(cfg.seed)
        fresh = create_model(cfg.model, classes, tuple(calibration.shape[1:]))
        bits = sorted({0} | {b for bs in arch.weight_bits.values() for b in bs})
        net = to_supernet(
            fresh,
            calibration,
            bits=bits,
            act_bits=sorted(set(arch.act_bits.values())),
            exclude=cfg.exclude,
            keep_channels=cfg.keep_channels,
        )
        price_as_exported(net, model, calibration)  # its deploy plan converts between the grids the export does
        choices = layer_choices(net, arch)
        latency = {core: _latency(choices, t) for core, t in by_core.items()}
    return Prediction(memory=costs.get("memory"), peak_activation_ram=costs.get("peak_activation_ram"), latency=latency)


def verify_run(run_dir: Path, cores: str = "all", inputs: int = 16, opt: str = "-O2") -> tuple[VerifyResult, Path]:
    """Export RUN_DIR (cmsis-nn), measure it on `cores` with its first `inputs` test inputs, write verify.json."""
    from bitgate.export_run import export_run
    from deploy.api import CALIBRATION_SAMPLES
    from deploy.firmware.cmsis_lib import check_opt

    if inputs <= 0:
        raise ConfigError(f"--inputs must be a positive number of test inputs, got {inputs}")
    names = parse_cores(cores)
    try:
        opt = check_opt(opt)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    run_dir = Path(run_dir)
    cfg, metrics, target = check_run(run_dir)
    check_tools()
    data = load_data(cfg)  # a missing data set, model.pt or arch.json: one line, still nothing written
    model = load_model(run_dir)
    arch = load_arch(run_dir / "arch.json")
    export_run(run_dir, "c", flavour=FLAVOUR)  # RUN/export/cmsis-nn, calibrated as `bitgate export` does
    x = data.test.batch(slice(0, inputs))[0]
    calibration = data.train.batch(slice(0, CALIBRATION_SAMPLES))[0]  # as export_run calibrates
    with torch.no_grad():
        logits = model(x).double().numpy()
    prediction = predict(cfg, metrics, target, arch, model, calibration, data.num_classes, names)
    result = verify_export(
        run_dir / "export" / FLAVOUR, x.numpy(), logits, names, opt, prediction, flavour_logits(model, calibration, x)
    )
    path = run_dir / "verify.json"
    atomic_write_json(path, {"run": run_dir.name, "target": target.name, "model": cfg.model, **result.to_dict()})
    return result, path


def flavour_logits(model: torch.nn.Module, calibration: torch.Tensor, x: torch.Tensor) -> np.ndarray | None:
    """The run's network computing the cmsis-nn kernels' arithmetic on x (None for ops it does not emulate)."""
    try:
        network = cmsis_network(model, calibration)
    except UnsupportedModelError:
        return None
    with torch.no_grad():
        return network(x).double().numpy()
