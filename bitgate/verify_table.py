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
        return f"{pred['instructions']:,.0f} (x{ratio:.3f}) = {pred['total']:,.0f} {pred['unit']} on {pred['target']}"
    return f"{pred['total']:,.0f} {pred['unit']} on {pred['target']}"


def summary_table(v: dict[str, Any]) -> str:
    """The per-core comparison of a verify.json dict. '= interpreter': logits equal to cmsis_interpreter's;
    '= PyTorch': to the run's network computing the flavour's arithmetic (deploy.cmsis_torch); 'argmax':
    agreeing with the run's fake-quantized network on the separated inputs."""
    pred = v["predicted"]
    cores = v["cores"]
    first = next(iter(cores.values()))
    lines = [
        f"verify {v.get('run', '')} on {v.get('target', '')}: {v['flavour']} at {v['opt']}, {v['inputs']} test "
        f"inputs, argmax compared on {first['argmax_compared']} whose top two PyTorch logits are "
        f">= {v['separation_steps']:g} output steps apart"
    ]
    head = (
        f"{'core':<5}{'= interpreter':>15}{'= PyTorch':>12}{'argmax':>9}  {'Flash B (ELF vs memory)':<26}"
        f"{'RAM B (ELF vs peak_activation_ram)':<36}{'stack B':>8}  {'instructions / inference':>26}  "
        "predicted instructions (measured / predicted) = cycles"
    )
    lines += [head, "-" * len(head)]
    for name, c in cores.items():
        n = c["instructions"]
        spread = f"{min(n):,}" if min(n) == max(n) else f"{min(n):,}-{max(n):,}"
        flash = _vs(c["flash_model_bytes"], pred["memory"])
        same = "-" if c.get("flavour_equal") is None else f"{c['flavour_equal']:,}/{c['outputs_total']:,}"
        lines.append(
            f"{name:<5}{c['outputs_equal']:>8,}/{c['outputs_total']:<6,}{same:>12}"
            f"{c['argmax_agree']:>5}/{c['argmax_compared']:<3}  {flash:<26}"
            f"{_vs(c['static_ram_bytes'], pred['peak_activation_ram']):<36}{c['stack_bytes']:>8,}  "
            f"{spread:>26}  {_latency(c, pred['latency'].get(name))}"
        )
    return "\n".join(lines)


def layer_table(v: dict[str, Any]) -> str:
    """Mean instructions per inference of every conv / linear layer on every core, each beside the latency
    model's per-layer prediction for that core where it gives one."""
    cores = v["cores"]
    preds = {k: p["per_layer"] for k, p in v["predicted"]["latency"].items() if p.get("per_layer")}
    totals = {k: p["instructions"] for k, p in v["predicted"]["latency"].items() if p.get("instructions")}
    layers = list(next(iter(cores.values()))["per_layer"])
    width = max([len("(adds, pools, glue)"), *map(len, layers)]) + 2
    cols = (
        [(k, "measured") for k in cores]
        if not preds
        else [(k, what) for k in cores for what in ("measured", "predicted") if what == "measured" or k in preds]
    )
    lines = [f"{'':<{width}}" + "".join(f"{k + (' pred' if w == 'predicted' else ''):>12}" for k, w in cols)]

    def row(label: str, value) -> str:
        cells = [value(k, w) for k, w in cols]
        return f"{label:<{width}}" + "".join(f"{x:>12,.0f}" if x is not None else f"{'-':>12}" for x in cells)

    for layer in layers:
        lines.append(
            row(
                layer,
                lambda k, w, layer=layer: cores[k]["per_layer"].get(layer) if w == "measured" else preds[k].get(layer),
            )
        )
    layer_sum = {k: sum(cores[k]["per_layer"].values()) for k in cores}
    pred_sum = {k: sum(p.values()) for k, p in preds.items()}
    lines.append(row("(layers)", lambda k, w: layer_sum[k] if w == "measured" else pred_sum[k]))
    lines.append(
        row(
            "(adds, pools, glue)",
            lambda k, w: (
                cores[k]["mean_instructions"] - layer_sum[k]
                if w == "measured"
                else (totals[k] - pred_sum[k] if k in totals else None)
            ),
        )
    )
    lines.append(row("(inference)", lambda k, w: cores[k]["mean_instructions"] if w == "measured" else totals.get(k)))
    if not preds:
        lines.append("per-layer predictions: the latency model gives a total only; compare the totals above")
    return "\n".join(lines)


def render(v: dict[str, Any]) -> str:
    return summary_table(v) + "\n\ninstructions per inference, by layer (mean over the inputs)\n" + layer_table(v)
