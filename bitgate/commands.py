"""The CLI's commands: each takes parsed arguments, prints, and returns an exit code."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from search.config import ConfigError, SearchConfig, load_config, parse_overrides, read_toml
from search.pricing import layer_choices


def _search_config(args: argparse.Namespace) -> tuple[SearchConfig, dict]:
    """Search settings from --config and --set; the config file's [sweep] table separately."""
    cfg = load_config(args.config, list(args.set))
    return cfg, dict(read_toml(args.config).get("sweep", {})) if args.config is not None else {}


def cmd_search(args: argparse.Namespace) -> int:
    from search import ddp
    from search.run import resume_config, run

    if getattr(args, "ddp", None) is not None:
        return _launch_ddp(args)
    if args.resume is not None:
        if args.config is not None:
            raise ConfigError("--resume continues a run with its own config.json; drop --config")
        cfg = resume_config(args.resume, parse_overrides(args.set))  # `--set device=...` may move it to another machine
    else:
        cfg, _ = _search_config(args)
    ddp.setup(cfg.device)  # under torchrun: join the process group (a no-op otherwise)
    metrics = run(cfg, resume=args.resume)
    if not ddp.is_main():
        return 0
    deployed = metrics.get("deployed_test_acc")
    as_deployed = f", {100 * deployed:.2f}% as deployed ({metrics.get('flavour')})" if deployed is not None else ""
    print(
        f"{metrics['method']} on {metrics['target']}: test accuracy {100 * metrics['test_acc']:.2f}%{as_deployed} "
        f"(float {100 * metrics['float_test_acc']:.2f}%), {metrics['cost_name']} {_cost(metrics)}"
    )
    return 0


def _cost(metrics: dict) -> str:
    """'2,356,154 bytes': a run's search cost in the one format every line uses (search/numbers.py)."""
    import cost_models
    from search.numbers import count

    name = metrics["cost_name"]
    unit = cost_models.get(name).unit if name in cost_models.names() else ""
    return f"{count(metrics['cost'])} {unit}".strip()


def _launch_ddp(args: argparse.Namespace) -> int:
    """`bitgate search --ddp N ...` = `torchrun --standalone --nproc-per-node N -m bitgate search ...`."""
    import subprocess
    import sys

    if args.ddp < 1:
        raise ConfigError(f"--ddp must be a number of processes >= 1, got {args.ddp}")
    from search import ddp

    device = parse_overrides(args.set).get("device")
    saved = Path(args.resume) / "config.json" if args.resume is not None else args.config
    if device is None and saved is not None and Path(saved).is_file():
        device = read_toml(saved).get("device")
    ddp.check_ranks(args.ddp, str(device or "auto"))  # one line, before any process starts
    argv = [a for k, v in (("--config", args.config), ("--resume", args.resume)) if v is not None for a in (k, str(v))]
    argv += [a for item in args.set for a in ("--set", item)]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={args.ddp}",
        "-m",
        "bitgate",
        "search",
        *argv,
    ]
    return subprocess.run(cmd).returncode


def cmd_sweep(args: argparse.Namespace) -> int:
    from reports.pareto import pareto_report
    from search import ddp
    from search.methods import spec_of_label
    from search.numbers import count
    from search.sweep import SweepConfig, load_sweep, sweep

    if ddp.launched_by_torchrun():
        raise ConfigError("a sweep does not run under torchrun; spread its points with --executor ray instead")

    if args.resume is not None:
        if args.config is not None or any(getattr(args, k) is not None for k in SWEEP_FLAGS):
            raise ConfigError("--resume continues a sweep as it was configured; drop --config and the sweep flags")
        base, table = load_sweep(args.resume, parse_overrides(args.set))
    else:
        base, table = _search_config(args)
        for key in SWEEP_FLAGS:
            value = getattr(args, key)
            if value is not None:
                table[key] = value
    spec = SweepConfig.from_dict(table)
    executor = None
    if args.executor == "local" and (args.address is not None or args.gpus_per_point or args.cpus_per_point != 1):
        raise ConfigError("--address, --gpus-per-point and --cpus-per-point need --executor ray")
    if args.executor == "ray":
        from search.ray_sweep import RayExecutor

        executor = RayExecutor(args.address, args.cpus_per_point, args.gpus_per_point)
    folder, results = sweep(base, spec, resume=args.resume, executor=executor)
    knob = spec.knob_name()
    column = f"{knob:>14}" if spec.vary is not None else ""
    print(f"{'method':<16}{'strength':>10}{'budget':>12}{column}{'test acc %':>12}  {results[0]['cost_name']}")
    for m in results:
        budget = "-" if m["budget"] is None else count(m["budget"])
        method = spec_of_label(m["method"])
        trade = (method is not None and not method.takes_budget) or m["budget"] is not None  # uniform-w4: no strength
        strength = "-" if trade else f"{m['strength']:g}"
        value = m.get("varied", {}).get(knob)
        shown = ("-" if value is None else f"{value:g}").rjust(14) if spec.vary is not None else ""
        print(f"{m['method']:<16}{strength:>10}{budget:>12}{shown}{100 * m['test_acc']:>12.2f}  {count(m['cost'])}")
    print(f"runs: {folder}")
    if not args.no_plot:
        for cost in dict.fromkeys(["size", results[0]["cost_name"]]):
            _, png = pareto_report([folder], cost, folder)
            print(f"Pareto plot ({cost}): {png}")
    return 0


SWEEP_FLAGS = ("methods", "strengths", "budgets", "uniform_bits", "vary")


def cmd_pareto(args: argparse.Namespace) -> int:
    from reports.pareto import pareto_report
    from search.config import parse_quantity
    from search.output_paths import check_folder_path

    budget = parse_quantity(args.budget) if args.budget is not None else None
    if budget is not None and budget <= 0:
        raise ConfigError(f"--budget must be above 0, got {args.budget!r}")
    out = args.out if args.out is not None else default_pareto_out(args.paths, Path.cwd())
    out = check_folder_path(out, "--out", reserve=0)
    csv, png = pareto_report(args.paths, args.cost, out, args.title, budget)
    print(f"front table: {csv}\nPareto plot: {png}")
    return 0


def default_pareto_out(paths: list[Path], here: Path) -> Path:
    """Where `bitgate pareto` writes without --out: into the one folder it was given (its own plot), else
    the current folder, never into the first of several sweeps (it would replace that sweep's plot)."""
    if len(paths) == 1:
        return paths[0] if paths[0].is_dir() else paths[0].parent
    return here


def cmd_targets(args: argparse.Namespace) -> int:
    from targets import get_target, target_names

    print("sizes in KiB/MiB (1 KiB = 1024 B); budgets accept kB = 1000 B, KiB = 1024 B, MB, MiB")
    print(f"{'name':<10}{'family':<10}{'Flash':>10}{'RAM':>10}{'MHz':>6}  {'weight bits':<12}{'act bits':<10}costs")
    for name in target_names():
        t = get_target(name)
        bits, acts = ",".join(map(str, t.weight_bits)), ",".join(map(str, t.act_bits))
        print(
            f"{t.name:<10}{t.family:<10}{_kb(t.flash_bytes):>10}{_kb(t.ram_bytes):>10}{t.clock_hz / 1e6:>6g}  "
            f"{bits:<12}{acts:<10}{','.join(t.costs)}"
        )
    return 0


def _kb(n: int) -> str:
    """Binary units, spelled as such: budget=512KiB parses to exactly the number shown as 512 KiB."""
    return f"{n / 1024:g} KiB" if n < 1024**2 else f"{n / 1024**2:g} MiB"


def cmd_cost(args: argparse.Namespace) -> int:
    import cost_models
    from search.model_file import load_arch
    from search.preflight import check_input
    from supernet import Architecture, to_supernet
    from targets import get_target
    from zoo import create_model, model_entry

    target = get_target(args.target)
    model_name, shape, classes, arch_path = args.model, None, args.classes, args.arch
    if args.run is not None:
        from search.run import load_data, load_run_config

        cfg = load_run_config(args.run)
        model_name = model_name or cfg.model
        data = load_data(cfg)
        shape, classes = data.in_shape, classes or data.num_classes
        arch_path = arch_path or args.run / "arch.json"
    if model_name is None:
        raise ConfigError("give --model NAME or --run RUN_DIR")
    if args.in_shape:
        try:
            shape = tuple(int(s) for s in args.in_shape.split(","))
        except ValueError:
            shape = ()
        if not shape or min(shape) < 1:
            raise ConfigError(f"--in-shape must be comma-separated sizes >= 1 like 3,32,32, got {args.in_shape!r}")
    if classes is not None and classes < 1:
        raise ConfigError(f"--classes must be a number of classes >= 1, got {classes}")
    if shape is None or classes is None:
        entry = model_entry(model_name)
        if entry is None or entry.input_shape is None or entry.classes is None:
            raise ConfigError(f"model {model_name!r} has no usual input: give --in-shape and --classes")
        shape = shape or entry.input_shape
        classes = classes or entry.classes
    torch.manual_seed(0)  # the same weights and calibration every call: the same activation grids, the same RAM
    model = create_model(model_name, classes, shape)
    check_input(model, model_name, shape, "--in-shape" if args.in_shape else "its usual input")
    arch = load_arch(arch_path) if arch_path else None
    bits = sorted(set(target.weight_bits) | ({b for bs in arch.weight_bits.values() for b in bs} if arch else set()))
    paths = {"exclude": cfg.exclude, "keep_channels": cfg.keep_channels} if args.run is not None else {}
    net = to_supernet(model, torch.randn(2, *shape), bits=bits, act_bits=target.act_bits, **paths)
    if arch is None:
        top, act = max(target.weight_bits), max(target.act_bits)
        arch = Architecture.uniform({n: s.out_channels for n, s in net.specs.items()}, top, act)
    costs = cost_models.evaluate_all(layer_choices(net, arch), target)
    print(f"{model_name} on {target.name} ({'arch ' + str(arch_path) if arch_path else 'unpruned, top bits'})")
    for name, value in costs.items():
        print(f"  {name:<22}{value:>16,.0f} {cost_models.get(name).unit}")
    from cost_models.fit import check_fit
    from targets.flavour import FLAVOURS

    print(f"  {check_fit(layer_choices(net, arch), target).summary()}")
    print(f"  per deploy flavour ({target.flavour!r} is the target's):")
    for flavour in FLAVOURS:
        other = target.with_flavour(flavour)
        choices = layer_choices(net, arch)
        both = [float(cost_models.evaluate(c, choices, other)) for c in ("memory", "peak_activation_ram")]
        print(f"    {flavour:<12} memory {both[0]:>12,.0f} bytes   peak_activation_ram {both[1]:>12,.0f} bytes")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from bitgate.export_run import export_run
    from search.output_paths import check_folder_path

    if args.out is not None:
        check_folder_path(args.out, "--out", reserve=0)
    report = export_run(
        args.run_dir, args.format, target=args.target, out=args.out, flavour=getattr(args, "flavour", None)
    )
    print(report)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import json
    import sys

    from bitgate.verify_run import verify_run
    from bitgate.verify_table import render
    from deploy.firmware import FirmwareError

    opt = args.opt if args.opt.startswith("-") else f"-{args.opt}"  # `--opt O3`: argparse reads "-O3" as a flag
    try:
        result, path = verify_run(args.run_dir, args.core, args.inputs, opt)
    except FirmwareError as exc:  # a build that fails or a firmware that crashes is a finding, not bad input
        print(f"bitgate verify: firmware error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    print(render(json.loads(path.read_text())))
    print(f"written: {path}")
    return 0 if all(c.bit_exact for c in result.cores) else 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    import sys

    from bitgate.calibrate_run import calibrate, import_board_log
    from deploy.firmware import FirmwareError

    try:
        if args.import_log is not None:
            if args.export is None:
                raise ConfigError("--import-log needs --export: the cmsis-nn export whose firmware the board ran")
            fit, path = import_board_log(args.import_log, args.export, args.core, args.target, args.out, args.opt)
            print(
                f"{fit.core}: {fit.cycles:,.0f} cycles / {fit.instructions:,.0f} instructions per inference = "
                f"{fit.cpi:.3f} cycles per instruction ({fit.inferences} inferences)"
            )
            for kind, row in sorted(fit.per_kind.items(), key=lambda kv: -kv[1]["cycles"]):
                print(
                    f"  {kind:12s} {row['cycles']:>14,.0f} cycles {row['instructions']:>14,.0f} instructions "
                    f"{row['cpi']:.3f}"
                )
            print(f"written: {path}" + (f"; {args.target} updated" if args.target else ""))
            return 0
        if args.out is None or args.export is not None or args.target is not None:
            raise ConfigError("measure a core with --core CORE --out DIR (--export / --target go with --import-log)")
        done = calibrate(args.core, args.out, args.name, args.networks, args.opt)
    except FirmwareError as exc:  # a build that fails or a firmware that crashes is a finding, not bad input
        print(f"bitgate calibrate: firmware error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    print(f"{done.calls} calls measured; latency table: {done.table}; target file: {done.target}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from reports.arch_plot import show

    print(f"architecture picture: {show(args.run_dir)}")
    return 0


def is_report(path: Path) -> bool:
    """Is `path` a report bitgate wrote (so `report --out` may replace it)?"""
    with path.open("rb") as f:
        return b"<title>bitgate report" in f.read(4096)


def cmd_report(args: argparse.Namespace) -> int:
    from reports.html import write_report
    from reports.pick import parse_budgets
    from search.output_paths import check_file_path

    budgets = parse_budgets(args.budget)
    if not args.sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep folder {args.sweep_dir} does not exist")
    check_file_path(args.out if args.out is not None else args.sweep_dir / "report.html", "--out", is_report)
    print(f"report: {write_report(args.sweep_dir, args.out, budgets)}")
    return 0
