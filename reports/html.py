"""`bitgate report SWEEP_DIR`: one self-contained report.html for a sweep.

Fronts (inline SVG, every point labelled by method and knob), a table of the points (accuracy,
every cost, epochs, wall time, a link to the run folder), the figures measured on emulated Cortex-M
cores next to the predicted ones for points with a verify.json, and each point's architecture picture
(arch.png, written into its run folder by `show` and inlined as base64). Style and script are
inline too: the file opens offline, e-mailed or copied anywhere (only the run-folder links are
relative and need the sweep folder next to it).
"""

from __future__ import annotations

import base64
import os
import time
from html import escape
from pathlib import Path
from urllib.parse import quote

from reports.arch_plot import headline, png_bytes
from reports.assets import CSS, JS
from reports.front_svg import front_svg, method_colours
from reports.layers import read_json, summarize
from reports.measured import measured_section
from reports.points import Point, find_points, front_costs, unit
from search.rundir import atomic_write_bytes, atomic_write_text

SHORT_UNITS = {"bytes": "B", "cycles": "cycles", "bits": "bit"}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _table(points: list[Point], costs: list[str], out: Path) -> str:
    heads = ["#", "method", "knob", "target", "test acc %", "val acc %", "float acc %"]
    heads += [f"{c} ({SHORT_UNITS.get(unit(c), unit(c))})" for c in costs]
    heads += ["epochs w+s+f", "wall s", "on front", "run"]
    left = {"method", "knob", "target", "on front", "run"}
    rows = ["<table><thead><tr>" + "".join(f'<th class="{"l" if h in left else ""}">{escape(h)}</th>' for h in heads)]
    rows.append("</tr></thead><tbody>")
    for p in points:
        e = p.epochs
        epochs = "+".join(str(e.get(k, "?")) for k in ("warmup", "search", "finetune"))
        on = ", ".join(c for c, yes in p.on_front.items() if yes) or "-"
        link = quote(os.path.relpath(p.run, out.parent)) + "/"
        info = f"{p.index:02d} {p.label} on {p.target}: test acc {100 * p.test_acc:.2f}%, " + ", ".join(
            f"{c} {p.costs[c]:,.0f}" for c in p.on_front) + f" — {p.run.name}"  # fmt: skip
        cells = [f"{p.index:02d}", escape(p.method), escape(p.knob), escape(p.target), _pct(p.test_acc),
                 _pct(p.val_acc), _pct(p.float_test_acc)]  # fmt: skip
        cells += [f"{p.costs[c]:,.0f}" if c in p.costs else "-" for c in costs]
        anchor = f'<a href="{escape(link)}">{escape(p.run.name)}</a>'
        cells += [epochs, f"{sum(p.seconds.values()):.1f}", escape(on), anchor]
        tds = "".join(f'<td class="{"l" if h in left else ""}">{c}</td>' for h, c in zip(heads, cells, strict=True))
        rows.append(f'<tr data-i="{p.index}" data-info="{escape(info)}">{tds}</tr>')
    return '<div class="wide">' + "\n".join(rows) + "</tbody></table></div>"


def _architectures(points: list[Point]) -> str:
    """Each point's picture, drawn once, saved as RUN/arch.png and inlined here."""
    out = []
    for p in points:
        s = summarize(p.run)
        png = png_bytes(s)
        atomic_write_bytes(p.run / "arch.png", png)
        b64 = base64.b64encode(png).decode()
        title = f"{p.index:02d} · {p.label} on {p.target} · test acc {100 * p.test_acc:.2f}% · {headline(s)}"
        out.append(f'<section class="arch" id="run-{p.index}" data-i="{p.index}"><h3>{escape(title)}</h3>'
                   f'<img alt="architecture of {escape(p.run.name)}" '
                   f'src="data:image/png;base64,{b64}"></section>')  # fmt: skip
    return "\n".join(out)


def _header(folder: Path, points: list[Point]) -> str:
    saved = read_json(folder / "sweep.json") if (folder / "sweep.json").exists() else {}
    base = saved.get("base", {})
    bits = [f"{len(points)} runs", ", ".join(sorted({p.target for p in points}))]
    if base:
        bits.insert(0, f"{base.get('model')} on {base.get('dataset')}")
    floats = {p.float_test_acc for p in points if p.float_test_acc is not None}
    if len(floats) == 1:
        bits.append(f"float test acc {100 * floats.pop():.2f}%")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (f"<h1>bitgate sweep report: {escape(folder.name)}</h1>"
            f'<p class="meta">{escape(" · ".join(bits))} · written {when}</p>')  # fmt: skip


def render(folder: str | Path, out: Path) -> str:
    """The whole page as one string."""
    folder = Path(folder)
    points = find_points(folder)
    fronts = list(dict.fromkeys(c for p in points for c in p.on_front))
    every = fronts + sorted(set().union(*(p.costs for p in points)) - set(fronts))  # front costs first
    colours = method_colours(points)
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(m)}</span>' for m, c in colours.items())
    targets = sorted({p.target for p in points})
    panels = "\n".join(front_svg(points, c, t, colours) for t in targets
                        for c in front_costs([p for p in points if p.target == t]))  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bitgate report: {escape(folder.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>{_header(folder, points)}
<h2>Fronts</h2>
<p class="meta">Lines join each method's non-dominated points; faint points are dominated. Hover or click a
point (or a table row) to see which run it is; a click scrolls to its architecture.</p>
<p class="legend">{legend}</p><p id="which"></p>
<div class="fronts">{panels}</div>
<h2>Points</h2>
{_table(points, every, out)}
{measured_section([(f"{p.index:02d} {p.label}", p.measured) for p in points])}
<h2>Architectures</h2>
<p class="meta">One row per searchable layer in network order: output channels stacked by weight bit-width
(pruned channels in their own colour), and each layer's share of the run's size and latency.</p>
{_architectures(points)}
<div id="tip"></div>
<script>{JS}</script>
</body></html>
"""


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default SWEEP_DIR/report.html) atomically; returns its path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"sweep folder {folder} does not exist")
    path = Path(out) if out is not None else folder / "report.html"
    atomic_write_text(path, render(folder, path))
    return path
