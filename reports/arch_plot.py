"""`bitgate show RUN_DIR`: arch.png, one row per searchable layer, its channels stacked by bit-width.

Beside each bar, the layer's share of the run's size and latency; in the title, the totals against
the unpruned network at the target's top bit-width. Every bar segment carries a gid "<layer>:<bits>"
so tests (and anyone curious) can read the plotted numbers back from the figure.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from reports.layers import ArchSummary, summarize  # noqa: E402
from reports.palette import bit_colour, bit_label, share_colour  # noqa: E402
from search.rundir import atomic_write_bytes  # noqa: E402

SHORT = {"bytes": "B", "cycles": "cyc"}


def _amount(value: float, unit: str) -> str:
    return f"{value:,.0f} {SHORT.get(unit, unit)}"


def headline(s: ArchSummary) -> str:
    """'memory 9,394 B of 15,098 B (62%) · latency_cortexm ...' against the unpruned top-bit network."""
    parts = []
    for c in s.shown:
        total, ref = s.totals[c], s.reference[c]
        pct = f" ({100 * total / ref:.0f}%)" if ref else ""
        parts.append(f"{c} {_amount(total, s.units[c])} of {_amount(ref, s.units[c])}{pct}")
    return " · ".join(parts)


def _pct(value: float) -> str:
    return "<1%" if 0 < value < 0.5 else f"{value:.0f}%"


def figure(s: ArchSummary) -> Figure:
    """The architecture picture of one run (see the module docstring)."""
    n = len(s.rows)
    fig = plt.figure(figsize=(10.0, 0.42 * n + 1.6))
    grid = fig.add_gridspec(1, 1 + len(s.shown), width_ratios=[3.2] + [1.2] * len(s.shown), wspace=0.08)
    ax = fig.add_subplot(grid[0, 0])
    widest = max(r.total for r in s.rows)
    used: set[int] = set()
    for y, row in enumerate(s.rows):
        left = 0
        for bits in sorted(row.channels, key=lambda b: (b == 0, -b)):  # high bits first, pruned last
            count = row.channels[bits]
            bar = ax.barh(y, count, left=left, color=bit_colour(bits), edgecolor="white", linewidth=0.6)
            bar.patches[0].set_gid(f"{row.name}:{bits}")
            left += count
            used.add(bits)
        ax.text(row.total + 0.01 * widest, y, f"{row.kept}/{row.total}", va="center", fontsize=8)
    ax.set_yticks(range(n), [f"{r.name} [{r.group}]" if r.group else r.name for r in s.rows], fontsize=8)
    ax.set_ylim(n - 0.5, -0.5)  # network order, top to bottom
    ax.set_xlim(0, widest * 1.12)
    ax.set_xlabel("output channels (kept / all)")
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=bit_colour(b), label=bit_label(b)) for b in sorted(used, key=lambda b: (b == 0, -b))]
    ax.legend(handles=handles, ncol=len(handles), fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    for k, cost in enumerate(s.shown, start=1):
        cax = fig.add_subplot(grid[0, k], sharey=ax)
        total = s.totals[cost] or 1.0
        shares = [100 * r.costs[cost] / total for r in s.rows]
        cax.barh(range(n), shares, color=share_colour(s.units[cost]), height=0.55)
        for y, pct in enumerate(shares):
            cax.text(pct + 1, y, _pct(pct), va="center", fontsize=7)
        cax.set_xlim(0, max(max(shares) * 1.35, 10))
        cax.set_xlabel(f"share of {cost}", fontsize=8)
        cax.tick_params(axis="y", left=False, labelleft=False)
        cax.tick_params(axis="x", labelsize=7)
        cax.grid(axis="x", alpha=0.3)
    acc = f" · test acc {100 * s.test_acc:.2f}%" if s.test_acc is not None else ""
    fig.suptitle(
        f"{s.method} {s.knob} on {s.target}{acc}\nvs unpruned {s.top_bits}-bit: {headline(s)}",
        fontsize=9,
        x=0.01,
        ha="left",
    )
    if any(r.group for r in s.rows):
        fig.text(
            0.01,
            0.005,
            "[A], [B], ...: layers that share one set of gates (outputs meeting at an add, a "
            "depthwise conv and its input): they keep the same channels",
            fontsize=7,
            color="#444444",
        )
    longest = max(len(t.get_text()) for t in ax.get_yticklabels())  # room for the layer names, in inches
    w, h = fig.get_figwidth(), fig.get_figheight()
    fig.subplots_adjust(left=min(0.4, (0.25 + 0.062 * longest) / w), right=0.98, top=1 - 0.85 / h, bottom=0.6 / h)
    return fig


def png_bytes(s: ArchSummary, dpi: int = 100) -> bytes:
    fig = figure(s)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def show(run_dir: str | Path) -> Path:
    """Write RUN_DIR/arch.png (atomically) and return its path."""
    s = summarize(run_dir)
    path = Path(run_dir) / "arch.png"
    atomic_write_bytes(path, png_bytes(s))
    return path
