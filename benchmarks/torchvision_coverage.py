"""Which torchvision classification models `to_supernet` converts, and how much of each it can prune.

Every model of `torchvision.models.list_models(module=torchvision.models)` is built with
num_classes=10 and random weights, on the smallest square input it accepts (tried: 32, 64, 96,
128, 224; ViTs are built with image_size = 2 x patch size, maxvit_t needs 224), converted with
`to_supernet(model, x)` (default bits 0/2/4/8), run once, and materialized on a random
architecture (some channels pruned, mixed bits) whose output is compared with the supernet's
with hard gates and activation quantization off. Each model runs in its own process with a
timeout, so a huge or hanging model costs at most that.

Status of a model:
  prunable + bits        converts; pruning is offered wherever the analysis can follow channels
                         (only the output layer and layers meeting the input keep every channel)
  bits only in N layers  converts; N layers keep all their channels because their outputs reach an
                         op the channel analysis cannot follow (the reason is listed), bits are
                         still searched there
  refused: <reason>      to_supernet raises

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/torchvision_coverage.py \
        --out results/torchvision_coverage.md --csv results/torchvision_coverage.csv
    # the same script against another checkout (e.g. the code before a change):
    OMP_NUM_THREADS=1 PYTHONPATH=/path/to/other python benchmarks/torchvision_coverage.py --out /tmp/before.md

Slow on a small machine (the largest models take minutes just to build): one run, --timeout per model.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

SIZES = (32, 64, 96, 128, 224)


def build(name: str):
    """(model in eval mode, input) on the smallest input the model accepts, plus a note on how it was built."""
    import torch
    import torchvision

    kwargs: dict = {"num_classes": 10}
    sizes: tuple[int, ...] = SIZES
    if name.startswith("vit_"):
        patch = int(name.rsplit("_", 1)[1])
        kwargs["image_size"] = 2 * patch
        sizes = (2 * patch,)
    elif name == "maxvit_t":
        kwargs["input_size"] = (224, 224)
        sizes = (224,)
    if name in ("googlenet", "inception_v3"):
        kwargs["aux_logits"], kwargs["init_weights"] = False, True
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, **kwargs).eval()
    last: Exception | None = None
    for size in sizes:
        x = torch.randn(2, 3, size, size)
        try:
            with torch.no_grad():
                model(x)
            note = f"image_size={kwargs['image_size']}" if "image_size" in kwargs else ""
            return model, x, note
        except Exception as exc:  # too small for its pooling/strides: try the next size
            last = exc
    raise RuntimeError(f"no input size in {sizes} works: {str(last).splitlines()[0][:120]}")


def random_arch(net, seed: int = 0) -> None:
    """Every gate on random options; every prunable group keeps at least one channel."""
    import torch

    g = torch.Generator().manual_seed(seed)
    for gate in net.gates.values():
        bits = [gate.options[int(i)] for i in torch.randint(len(gate.options), (gate.channels,), generator=g)]
        if not any(bits):
            bits[0] = max(gate.options)
        gate.set_choice(bits)


def one(name: str) -> dict:
    """Convert one model; a dict with status, counts and the first line of any error."""
    import torch

    from supernet import UnsupportedModelError, discretize, materialize, to_supernet

    t0 = time.perf_counter()
    row: dict = {"model": name}
    try:
        model, x, note = build(name)
    except Exception as exc:
        return {**row, "status": f"cannot build: {str(exc).splitlines()[0][:150]}"}
    row.update(input=f"{x.shape[-1]}x{x.shape[-2]}", note=note, params=sum(p.numel() for p in model.parameters()))
    try:
        net = to_supernet(model, x, quantize_activations=False)
    except (UnsupportedModelError, ValueError) as exc:
        return {**row, "status": f"refused: {str(exc).splitlines()[0][:200]}", "seconds": time.perf_counter() - t0}
    report = net.report() if hasattr(net, "report") else []
    prunable = sum(bool(net.layer(n).gates.prunable) for n in net.layer_names)
    row.update(
        layers=len(net.layer_names),
        prunable_layers=prunable,
        bits_only_layers=len(report),
        reasons=sorted({r["reason"] for r in report}),
    )
    row["status"] = f"bits only in {len(report)} layers" if report else "prunable + bits"
    try:
        net.eval()
        random_arch(net)
        net.set_sampling("hard")
        small = materialize(net, discretize(net)).eval()
        with torch.no_grad():
            y, z = net(x), small(x)
        row["max_abs_diff"] = float((y - z).abs().max())
        row["rel_diff"] = row["max_abs_diff"] / max(float(y.abs().max()), 1e-12)
    except Exception as exc:
        row["status"] += f"; materialize fails: {type(exc).__name__}: {str(exc).splitlines()[0][:150]}"
    row["seconds"] = time.perf_counter() - t0
    return row


def run_all(names: list[str], timeout: float, jsonl: str | None = None) -> list[dict]:
    """Each model in its own process; with `jsonl`, every row is appended there as soon as it is known."""
    rows = []
    for name in names:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, __file__, "--one", name],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=os.environ.copy(),
            )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            row = (
                json.loads(lines[-1])
                if lines
                else {"model": name, "status": f"crashed: {(proc.stderr.strip().splitlines() or ['?'])[-1][:150]}"}
            )
        except subprocess.TimeoutExpired:
            row = {"model": name, "status": f"timeout after {timeout:g} s"}
        row.setdefault("seconds", time.perf_counter() - t0)
        print(f"{name:24s} {row['status'][:110]}", file=sys.stderr, flush=True)
        rows.append(row)
        if jsonl:
            with open(jsonl, "a") as f:
                f.write(json.dumps(row) + "\n")
    return rows


def summary(rows: list[dict]) -> dict[str, int]:
    out = {"prunable + bits": 0, "bits only": 0, "refused or failed": 0, "not run": 0}
    for r in rows:
        s = r["status"]
        if s == "not run":
            out["not run"] += 1
        elif "materialize fails" in s or not (s.startswith("prunable") or s.startswith("bits only")):
            out["refused or failed"] += 1
        else:
            out["prunable + bits" if s.startswith("prunable") else "bits only"] += 1
    return out


def reason_kinds(reasons: list[str]) -> list[str]:
    """The distinct kinds of reasons, with node and module names elided: "'permute' at node '…' in ..."."""
    kinds: dict[str, int] = {}
    for reason in reasons:
        kind = re.sub(r"(node|module|layer|BatchNorm) '[^']*'", r"\1 '…'", reason)
        kinds[kind] = kinds.get(kind, 0) + 1
    return [f"{k} (x{n})" if n > 1 else k for k, n in kinds.items()]


def to_markdown(rows: list[dict]) -> str:
    counts = summary(rows)
    lines = [
        f"{len(rows)} models: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + ".",
        "",
        "| model | input | layers | prunable layers | status | bits-only reasons | materialized vs supernet (rel.) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        inp = r.get("input", "") + (f" ({r['note']})" if r.get("note") else "")
        diff = f"{r['rel_diff']:.1e}" if "rel_diff" in r else ""
        reasons = "; ".join(reason_kinds(r.get("reasons", [])))
        status = r["status"].replace("|", "/")
        lines.append(
            f"| {r['model']} | {inp} | {r.get('layers', '')} | {r.get('prunable_layers', '')} | {status} "
            f"| {reasons.replace('|', '/')} | {diff} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--models", nargs="*", help="subset of model names (default: every classification model)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per model")
    ap.add_argument("--out", default="results/torchvision_coverage.md")
    ap.add_argument("--csv", default=None, help="also write the rows as CSV")
    ap.add_argument("--jsonl", default=None, help="append every row here as soon as it is measured")
    ap.add_argument(
        "--render",
        nargs="*",
        help="only write the tables, from these --jsonl files (several runs of "
        "parts of the list, e.g. two halves run side by side)",
    )
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    import torchvision

    names = args.models or torchvision.models.list_models(module=torchvision.models)
    if args.render:
        found = {}
        for path in args.render:
            for line in Path(path).read_text().splitlines():
                row = json.loads(line)
                found[row["model"]] = row
        rows = [found.get(n, {"model": n, "status": "not run"}) for n in names]
    else:
        rows = run_all(names, args.timeout, args.jsonl)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(to_markdown(rows))
    if args.csv:
        keys = [
            "model",
            "input",
            "note",
            "params",
            "layers",
            "prunable_layers",
            "bits_only_layers",
            "status",
            "reasons",
            "max_abs_diff",
            "rel_diff",
            "seconds",
        ]
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({**r, "reasons": "; ".join(r.get("reasons", []))})
    print(json.dumps(summary(rows)))


if __name__ == "__main__":
    main()
