"""The printed form of verify.json: one row per core, then instructions per layer and core.

Reads the plain dict (as written to RUN/verify.json), so a saved file prints the same table.
"""

from __future__ import annotations

from typing import Any


def _vs(measured: float, predicted: float | None) -> str:
    """'7,179 = 7,179', '44,800 vs 40,000 (+12.0%)', or the measured figure alone."""
    if predicted is None:
        return f"{measured:,.0f} / -"
    if round(measured) == round(predicted):
        return f"{measured:,.0f} = {predicted:,.0f}"
    return f"{measured:,.0f} vs {predicted:,.0f} ({100 * (measured - predicted) / predicted:+.1f}%)"


def _latency(core: dict[str, Any], pred: dict[str, Any] | None) -> str:
    if pred is None:
        return "-"
    if pred.get("instructions") is not None:
        ratio = core["mean_instructions"] / pred["instructions"]
        return f"{pred['instructions']:,.0f} instr. ({pred['target']}; measured x{ratio:.2f})"
    return f"{pred['total']:,.0f} {pred['unit']} ({pred['target']})"


def summary_table(v: dict[str, Any]) -> str:
    """The per-core comparison of a verify.json dict."""
    pred = v["predicted"]
    cores = v["cores"]
    first = next(iter(cores.values()))
    lines = [f"verify {v.get('run', '')} on {v.get('target', '')}: {v['flavour']} at {v['opt']}, {v['inputs']} test "
             f"inputs, argmax compared on {first['argmax_compared']} whose top two PyTorch logits are "
             f">= {v['separation_steps']:g} output steps apart"]  # fmt: skip
    head = (f"{'core':<5}{'bit-exact logits':>18}{'argmax':>9}  {'Flash B (ELF vs memory)':<26}"
            f"{'RAM B (ELF vs peak_activation_ram)':<36}{'stack B':>8}  {'instructions / inference':>26}  "
            "predicted latency")  # fmt: skip
    lines += [head, "-" * len(head)]
    for name, c in cores.items():
        n = c["instructions"]
        spread = f"{min(n):,}" if min(n) == max(n) else f"{min(n):,}-{max(n):,}"
        flash = _vs(c["flash_model_bytes"], pred["memory"])
        lines.append(f"{name:<5}{c['outputs_equal']:>9,}/{c['outputs_total']:<8,}"
                     f"{c['argmax_agree']:>4}/{c['argmax_compared']:<4}  {flash:<26}"
                     f"{_vs(c['static_ram_bytes'], pred['peak_activation_ram']):<36}{c['stack_bytes']:>8,}  "
                     f"{spread:>26}  {_latency(c, pred['latency'].get(name))}")  # fmt: skip
    return "\n".join(lines)


def layer_table(v: dict[str, Any]) -> str:
    """Mean instructions per inference of every conv / linear layer on every core (and the predicted ones
    where the latency model gives a per-layer breakdown)."""
    cores = v["cores"]
    preds = {k: p["per_layer"] for k, p in v["predicted"]["latency"].items() if p.get("per_layer")}
    layers = list(next(iter(cores.values()))["per_layer"])
    width = max([len("(adds, pools, glue)"), *map(len, layers)]) + 2
    cols = [*cores, *(f"pred {k}" for k in preds)]
    lines = [f"{'layer':<{width}}" + "".join(f"{c:>14}" for c in cols)]
    for layer in layers:
        row = [cores[k]["per_layer"].get(layer) for k in cores] + [p.get(layer) for p in preds.values()]
        lines.append(f"{layer:<{width}}" + "".join(f"{x:>14,.0f}" if x is not None else f"{'-':>14}" for x in row))
    totals = [sum(cores[k]["per_layer"].values()) for k in cores] + [sum(p.values()) for p in preds.values()]
    lines.append(f"{'(layers)':<{width}}" + "".join(f"{x:>14,.0f}" for x in totals))
    rest = [cores[k]["mean_instructions"] - sum(cores[k]["per_layer"].values()) for k in cores]
    lines.append(f"{'(adds, pools, glue)':<{width}}" + "".join(f"{x:>14,.0f}" for x in rest))
    if not preds:
        lines.append("per-layer predictions: the latency model gives a total only; compare the totals above")
    return "\n".join(lines)


def render(v: dict[str, Any]) -> str:
    return summary_table(v) + "\n\ninstructions per inference, by layer (mean over the inputs)\n" + layer_table(v)
