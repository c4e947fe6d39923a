"""The CLI's commands: each takes parsed arguments, prints, and returns an exit code."""

from __future__ import annotations

import argparse
import json

import torch

from search.config import ConfigError, SearchConfig, load_config, read_toml


def _search_config(args: argparse.Namespace) -> tuple[SearchConfig, dict]:
    """Search settings from --config and --set; the config file's [sweep] table separately."""
    cfg = load_config(args.config, list(args.set))
    return cfg, dict(read_toml(args.config).get("sweep", {})) if args.config is not None else {}


def cmd_search(args: argparse.Namespace) -> int:
    from search.run import load_run_config, run

    if args.resume is not None:
        cfg = load_run_config(args.resume)
        metrics = run(cfg, resume=args.resume)
    else:
        cfg, _ = _search_config(args)
        metrics = run(cfg)
    print(f"{metrics['method']} on {metrics['target']}: test accuracy {100 * metrics['test_acc']:.2f}% "
          f"(float {100 * metrics['float_test_acc']:.2f}%), {metrics['cost_name']} = {metrics['cost']:g}")  # fmt: skip
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from search.pareto import pareto_report
    from search.sweep import SweepConfig, sweep

    if args.resume is not None:
        saved = json.loads((args.resume / "sweep.json").read_text()) if (args.resume / "sweep.json").exists() else None
        if saved is None:
            raise ConfigError(f"{args.resume} is not a sweep folder (no sweep.json)")
        base, table = SearchConfig.from_dict(saved["base"]), saved["sweep"]
    else:
        base, table = _search_config(args)
        for key in ("methods", "strengths", "budgets", "uniform_bits"):
            value = getattr(args, key)
            if value is not None:
                table[key] = value
    spec = SweepConfig.from_dict(table)
    folder, results = sweep(base, spec, resume=args.resume)
    print(f"{'method':<16}{'strength':>10}{'budget':>10}{'test acc %':>12}  {results[0]['cost_name']}")
    for m in results:
        budget = "-" if m["budget"] is None else f"{m['budget']:g}"
        strength = "-" if m["method"].startswith("uniform") else f"{m['strength']:g}"
        print(f"{m['method']:<16}{strength:>10}{budget:>10}{100 * m['test_acc']:>12.2f}  {m['cost']:g}")
    print(f"runs: {folder}")
    if not args.no_plot:
        for cost in dict.fromkeys(["size", results[0]["cost_name"]]):
            _, png = pareto_report([folder], cost, folder)
            print(f"Pareto plot ({cost}): {png}")
    return 0


def cmd_pareto(args: argparse.Namespace) -> int:
    from search.pareto import pareto_report

    out = args.out or (args.paths[0] if args.paths[0].is_dir() else args.paths[0].parent)
    csv, png = pareto_report(args.paths, args.cost, out, args.title)
    print(f"front table: {csv}\nPareto plot: {png}")
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    from targets import get_target, target_names

    print(f"{'name':<10}{'family':<10}{'Flash':>10}{'RAM':>10}{'MHz':>6}  {'weight bits':<12}{'act bits':<10}costs")
    for name in target_names():
        t = get_target(name)
        bits, acts = ",".join(map(str, t.weight_bits)), ",".join(map(str, t.act_bits))
        print(f"{t.name:<10}{t.family:<10}{_kb(t.flash_bytes):>10}{_kb(t.ram_bytes):>10}{t.clock_hz / 1e6:>6g}  "
              f"{bits:<12}{acts:<10}{','.join(t.costs)}")  # fmt: skip
    return 0


def _kb(n: int) -> str:
    return f"{n / 1024:g} kB" if n < 1024**2 else f"{n / 1024**2:g} MB"


def cmd_cost(args: argparse.Namespace) -> int:
    import cost_models
    from search.cli import TYPICAL_INPUTS
    from search.models import create_model
    from supernet import Architecture, to_supernet
    from targets import get_target

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
            raise ConfigError(
                f"--in-shape must be comma-separated integers like 3,32,32, got {args.in_shape!r}"
            ) from None
    if shape is None or classes is None:
        if model_name not in TYPICAL_INPUTS and (shape is None or classes is None):
            raise ConfigError(f"model {model_name!r} has no usual input: give --in-shape and --classes")
        shape = shape or TYPICAL_INPUTS[model_name][0]
        classes = classes or TYPICAL_INPUTS[model_name][1]
    model = create_model(model_name, classes, shape)
    arch = Architecture.load(arch_path) if arch_path else None
    bits = sorted(set(target.weight_bits) | ({b for bs in arch.weight_bits.values() for b in bs} if arch else set()))
    paths = {"exclude": cfg.exclude, "keep_channels": cfg.keep_channels} if args.run is not None else {}
    net = to_supernet(model, torch.randn(2, *shape), bits=bits, act_bits=target.act_bits, **paths)
    if arch is None:
        top, act = max(target.weight_bits), max(target.act_bits)
        arch = Architecture.uniform({n: s.out_channels for n, s in net.specs.items()}, top, act)
    costs = cost_models.evaluate_all(net.layer_choices(arch), target)
    print(f"{model_name} on {target.name} ({'arch ' + str(arch_path) if arch_path else 'unpruned, top bits'})")
    for name, value in costs.items():
        print(f"  {name:<22}{value:>16,.0f} {cost_models.get(name).unit}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from search.export_run import export_run

    report = export_run(args.run_dir, args.format, target=args.target, out=args.out)
    print(report)
    return 0
