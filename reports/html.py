"""`bitgate report SWEEP_DIR`: one self-contained report.html for a sweep.

Per target, which network to pick (the most accurate point within the budgets given and the target's
Flash and RAM) and its fronts (inline SVG, every point labelled by method and knob, labels clear of
each other and of the markers), a table of the points narrow enough for the page (accuracy, every
cost, epochs, wall time, a link to the run folder), the figures measured on emulated Cortex-M
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
from reports.front_svg import front_svg, legend_marker, method_colours
from reports.layers import read_json, summarize
from reports.measured import measured_section
from reports.pick import amount, best
from reports.points import Point, find_points, front_costs, unit
from search.rundir import atomic_write_bytes, atomic_write_text

SHORT_UNITS = {"bytes": "B", "cycles": "cycles", "bits": "bit"}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _head(text: str) -> str:
    """A column heading that may wrap: at its unit's parenthesis and after underscores (peak_activation_ram)."""
    return escape(text).replace("_", "_<wbr>").replace(" (", "<br>(")


def _table(points: list[Point], costs: list[str], out: Path, picks: set[int]) -> str:
    """The points, narrow enough for the page: one 'point' column (method and knob, linking to the run
    folder, whose name is its tooltip), the target only when there are several, the float accuracy only
    when the points differ in it (else the header says it), headings that wrap."""
    targets = len({p.target for p in points}) > 1
    floats = len({p.float_test_acc for p in points}) > 1
    heads = ["#", "point"] + (["target"] if targets else []) + ["test acc %", "val acc %"]
    heads += ["float acc %"] if floats else []
    heads += [f"{c} ({SHORT_UNITS.get(unit(c), unit(c))})" for c in costs]
    heads += ["epochs w+s+f", "wall s", "on front"]
    left = {"point", "target", "on front"}
    rows = [
        '<table class="points"><thead><tr>'
        + "".join(f'<th class="{"l" if h in left else ""}">{_head(h)}</th>' for h in heads)
    ]
    rows.append("</tr></thead><tbody>")
    for p in points:
        e = p.epochs
        epochs = "+".join(str(e.get(k, "?")) for k in ("warmup", "search", "finetune"))
        on = ", ".join(c for c, yes in p.on_front.items() if yes) or "-"
        link = quote(os.path.relpath(p.run, out.parent)) + "/"
        info = (
            f"{p.index:02d} {p.label} on {p.target}: test acc {100 * p.test_acc:.2f}%, "
            + ", ".join(f"{c} {p.costs[c]:,.0f}" for c in p.on_front)
            + f" — {p.run.name}"
        )
        badge = ' <span class="badge">pick</span>' if p.index in picks else ""
        anchor = f'<a href="{escape(link)}" title="run folder {escape(p.run.name)}">{escape(p.label)}</a>{badge}'
        cells = [f"{p.index:02d}", anchor] + ([escape(p.target)] if targets else [])
        cells += [_pct(p.test_acc), _pct(p.val_acc)] + ([_pct(p.float_test_acc)] if floats else [])
        cells += [f"{p.costs[c]:,.0f}" if c in p.costs else "-" for c in costs]
        cells += [epochs, f"{sum(p.seconds.values()):.1f}", escape(on).replace(", ", ",<wbr> ")]
        tds = "".join(f'<td class="{"l" if h in left else ""}">{c}</td>' for h, c in zip(heads, cells, strict=True))
        pick = ' class="pick"' if p.index in picks else ""
        rows.append(f'<tr data-i="{p.index}"{pick} data-info="{escape(info)}">{tds}</tr>')
    return '<div class="wide">' + "\n".join(rows) + "</tbody></table></div>"


def target_budgets(points: list[Point], budgets: dict[str, float]) -> dict[str, dict[str, float]]:
    """{target: {cost: budget}}; a budget without a cost name ('') is each target's search cost. A named
    cost that no point reports is refused (before anything is written)."""
    known = set().union(*(p.costs for p in points))
    for cost in budgets:
        if cost and cost not in known:
            raise ValueError(
                f"--budget names cost {cost!r}, which no point reports; available: {', '.join(sorted(known))}"
            )
    out = {}
    for target in sorted({p.target for p in points}):
        search = next(p.cost_name for p in points if p.target == target)
        out[target] = {(c or search): v for c, v in budgets.items()}
    return out


def choose(points: list[Point], budgets: dict[str, float]) -> Point | None:
    """The point to pick on one target: the most accurate that is within every budget and not known to
    overflow the target's Flash or RAM (reports.pick.best); ties to the cheaper in the search cost."""
    ok = [p.fits is not False and all(c in p.costs and p.costs[c] <= v for c, v in budgets.items()) for p in points]
    i = best([p.test_acc for p in points], [p.costs.get(p.cost_name, 0.0) for p in points], ok)
    return None if i is None else points[i]


def _pick_line(target: str, chosen: Point | None, budgets: dict[str, float], pts: list[Point]) -> str:
    """'Pick on stm32h7: 03 joint s0.1 — 99.16% test accuracy, memory 5,633 B ... (how it was chosen)'."""
    known = any(p.fits is not None for p in pts)
    within = ", ".join(f"{escape(c)} ≤ {escape(amount(v, unit(c)))}" for c, v in budgets.items())
    how = (
        "the most accurate point"
        + (f" with {within}" if within else "")
        + (" that fits the target's Flash and RAM" if known else "")
    )
    if chosen is None:
        needs = ([f"has {within}"] if within else []) + (["fits the target's Flash and RAM"] if known else [])
        return f'<p class="pick">No point on {escape(target)} {" and ".join(needs)}: nothing to pick.</p>'
    costs = ", ".join(
        f"{escape(c)} {chosen.costs[c]:,.0f} {escape(SHORT_UNITS.get(unit(c), unit(c)))}"
        for c in front_costs(pts)
        if c in chosen.costs
    )
    return (
        f'<p class="pick">Pick on {escape(target)}: <a href="#run-{chosen.index}">{chosen.index:02d} '
        f"{escape(chosen.label)}</a>, {100 * chosen.test_acc:.2f}% test accuracy, {costs} ({how}; "
        "ringed in the fronts).</p>"
    )


def _architectures(points: list[Point]) -> str:
    """Each point's picture, drawn once, saved as RUN/arch.png and inlined here."""
    out = []
    for p in points:
        s = summarize(p.run)
        png = png_bytes(s)
        atomic_write_bytes(p.run / "arch.png", png)
        b64 = base64.b64encode(png).decode()
        title = f"{p.index:02d} · {p.label} on {p.target} · test acc {100 * p.test_acc:.2f}% · {headline(s)}"
        out.append(
            f'<section class="arch" id="run-{p.index}" data-i="{p.index}"><h3>{escape(title)}</h3>'
            f'<img alt="architecture of {escape(p.run.name)}" '
            f'src="data:image/png;base64,{b64}"></section>'
        )
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
    return (
        f"<h1>bitgate sweep report: {escape(folder.name)}</h1>"
        f'<p class="meta">{escape(" · ".join(bits))} · written {when}</p>'
    )


def _fronts(points: list[Point], budgets: dict[str, float]) -> tuple[str, set[int]]:
    """Per target: a heading, which network to pick, and its fronts (a grid of panels); the picks' indices."""
    colours = method_colours(points)
    per_target = target_budgets(points, budgets)
    out, picks = [], set()
    for target, limits in per_target.items():
        pts = [p for p in points if p.target == target]
        shared = set.intersection(*(set(p.costs) for p in pts))
        costs = list(dict.fromkeys(front_costs(pts) + [c for c in limits if c in shared]))
        chosen = choose(pts, limits)
        pick = None if chosen is None else chosen.index
        picks |= {pick} - {None}
        panels = "\n".join(front_svg(points, c, target, colours, limits.get(c), pick) for c in costs)
        out.append(
            f'<h3 class="target">{escape(target)}</h3>{_pick_line(target, chosen, limits, pts)}'
            f'<div class="fronts">{panels}</div>'
        )
    return "\n".join(out), picks


def _key(shape: str, text: str) -> str:
    """One legend entry: an 18 px SVG swatch (in the fronts' own classes) and its words."""
    return f'<span><svg class="key" width="18" height="18" aria-hidden="true">{shape}</svg>{escape(text)}</span>'


def render(folder: str | Path, out: Path, budgets: dict[str, float] | None = None) -> str:
    """The whole page as one string. `budgets`: {cost: limit} ('' is each target's search cost)."""
    folder = Path(folder)
    points = find_points(folder)
    fronts, picks = _fronts(points, budgets or {})  # a bad --budget is refused here, before any picture is written
    on_fronts = list(dict.fromkeys(c for p in points for c in p.on_front))
    every = on_fronts + sorted(set().union(*(p.costs for p in points)) - set(on_fronts))  # front costs first
    legend = "".join(f"<span>{legend_marker(m)}{escape(m)}</span>" for m in method_colours(points))
    legend += _key('<circle cx="9" cy="9" r="5" fill="#fff" stroke="#777" stroke-width="1.3"/>', "dominated (hollow)")
    legend += _key('<circle cx="9" cy="9" r="7.5" class="ring"/>', "the pick")
    if budgets:
        legend += _key('<line x1="9" y1="1" x2="9" y2="17" class="budget"/>', "budget (past it shaded)")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bitgate report: {escape(folder.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>{_header(folder, points)}
<h2>Fronts</h2>
<p class="meta">Lines join each method's non-dominated points; hollow markers are dominated runs. Methods differ
by marker shape as well as colour. Hover or click a point (or a table row) to see which run it is; a click
scrolls to its architecture.</p>
<p class="legend">{legend}</p><p id="which"></p>
{fronts}
<h2>Points</h2>
{_table(points, every, out, picks)}
{measured_section([(f"{p.index:02d} {p.label}", p.measured) for p in points])}
<h2>Architectures</h2>
<p class="meta">One row per searchable layer in network order: output channels stacked by weight bit-width
(pruned channels in their own colour), and each layer's share of the run's size and latency.</p>
{_architectures(points)}
<div id="tip"></div>
<script>{JS}</script>
</body></html>
"""


def write_report(folder: str | Path, out: str | Path | None = None, budgets: dict[str, float] | None = None) -> Path:
    """Write the report (default SWEEP_DIR/report.html) atomically; returns its path. `budgets`: see render."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"sweep folder {folder} does not exist")
    path = Path(out) if out is not None else folder / "report.html"
    atomic_write_text(path, render(folder, path, budgets))
    return path
