"""Measured on the core: a run's verify.json (written by `bitgate verify`) as the report shows it.

A point that has been verified gets one row per emulated core: whether the firmware's outputs equal
the interpreter's, its argmax agreement with PyTorch, and the Flash, RAM and instructions measured
next to the `memory`, `peak_activation_ram` and latency figures the search predicted. Read from the
JSON alone, like every other part of the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from reports.layers import read_json

VERIFY_FILE = "verify.json"


@dataclass(frozen=True)
class CoreMeasure:
    core: str
    bit_exact: bool
    outputs_equal: int
    outputs_total: int
    argmax_agree: int
    argmax_compared: int
    flash_bytes: int  # the model's read-only objects in the ELF
    ram_bytes: int  # the model's static RAM objects in the ELF
    stack_bytes: int
    instructions: float  # mean per inference
    predicted_flash: float | None
    predicted_ram: float | None
    predicted: dict[str, Any] | None  # the core's latency prediction (target, unit, total, instructions)


def read_measured(run: Path) -> tuple[CoreMeasure, ...]:
    """One entry per verified core of RUN/verify.json (none when the run has not been verified)."""
    path = Path(run) / VERIFY_FILE
    if not path.exists():
        return ()
    v = read_json(path)
    pred = v.get("predicted", {})
    return tuple(
        CoreMeasure(
            core=core,
            bit_exact=bool(c["bit_exact"]),
            outputs_equal=int(c["outputs_equal"]),
            outputs_total=int(c["outputs_total"]),
            argmax_agree=int(c["argmax_agree"]),
            argmax_compared=int(c["argmax_compared"]),
            flash_bytes=int(c["flash_model_bytes"]),
            ram_bytes=int(c["static_ram_bytes"]),
            stack_bytes=int(c["stack_bytes"]),
            instructions=float(c["mean_instructions"]),
            predicted_flash=pred.get("memory"),
            predicted_ram=pred.get("peak_activation_ram"),
            predicted=pred.get("latency", {}).get(core),
        )
        for core, c in v.get("cores", {}).items()
    )


def _pair(measured: float, predicted: float | None) -> str:
    """'7,179 = 7,179' or '7,300 / 7,179 (+1.7%)' (measured first)."""
    if predicted is None:
        return f"{measured:,.0f} / -"
    if round(measured) == round(predicted):
        return f"{measured:,.0f} = {predicted:,.0f}"
    return f"{measured:,.0f} / {predicted:,.0f} ({100 * (measured - predicted) / predicted:+.1f}%)"


def _latency(m: CoreMeasure) -> str:
    p = m.predicted
    if not p:
        return "-"
    if p.get("instructions") is not None:
        return f"{p['instructions']:,.0f} instr. ({escape(str(p['target']))})"
    return f"{p['total']:,.0f} {escape(str(p['unit']))} ({escape(str(p['target']))})"


def measured_section(rows: list[tuple[str, tuple[CoreMeasure, ...]]]) -> str:
    """The report's "Measured on emulated cores" table; rows: (point label, its measures). Empty: ''."""
    rows = [(label, ms) for label, ms in rows if ms]
    if not rows:
        return ""
    heads = [
        "point",
        "core",
        "outputs = interpreter",
        "argmax = PyTorch",
        "Flash B measured / memory",
        "RAM B measured / peak_activation_ram",
        "stack B",
        "instructions / inference",
        "predicted latency",
    ]
    out = [
        "<h2>Measured on emulated cores</h2>",
        '<p class="meta">From each verified run\'s verify.json (<code>bitgate verify</code>): the cmsis-nn '
        "export built for QEMU's Cortex-M boards; Flash and static RAM read from the ELF, instructions "
        "counted exactly (not cycles).</p>",
        '<div class="wide"><table class="measured"><thead><tr>'
        + "".join(f'<th class="{"l" if h in ("point", "core") else ""}">{escape(h)}</th>' for h in heads)
        + "</tr></thead><tbody>",
    ]
    for label, ms in rows:
        for m in ms:
            exact = f"{m.outputs_equal:,}/{m.outputs_total:,}" + ("" if m.bit_exact else " (differs)")
            cells = [
                escape(label),
                escape(m.core),
                exact,
                f"{m.argmax_agree}/{m.argmax_compared}",
                _pair(m.flash_bytes, m.predicted_flash),
                _pair(m.ram_bytes, m.predicted_ram),
                f"{m.stack_bytes:,}",
                f"{m.instructions:,.0f}",
                _latency(m),
            ]
            out.append(
                "<tr>" + "".join(f'<td class="{"l" if i < 2 else ""}">{c}</td>' for i, c in enumerate(cells)) + "</tr>"
            )
    return "\n".join(out) + "</tbody></table></div>"
