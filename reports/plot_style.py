"""One colour and one marker per method, the same in every plot bitgate draws.

Kelly's colours of maximum contrast (K. Kelly, 1965, "Twenty-two colors of maximum contrast"),
without white and black: 20 colours, so the ~14 methods and uniform baselines never share one.
Registered methods have fixed entries (register_method(..., style=...)); any other name gets a
stable entry from its CRC32.
"""

from __future__ import annotations

import zlib

from search.methods import plot_slots, spec_of_label

KELLY = (
    "#0067A5",
    "#BE0032",
    "#008856",
    "#F38400",
    "#875692",
    "#882D17",
    "#8DB600",
    "#E68FAC",
    "#604E97",
    "#2B3D26",
    "#F99379",
    "#B3446C",
    "#654522",
    "#E25822",
    "#F6A600",
    "#848482",
    "#F3C300",
    "#A1CAF1",
    "#DCD300",
    "#C2B280",
)  # (strong colours first; the pale ones go to rare names)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def method_style(method: str) -> tuple[str, str]:
    """(colour, marker) of `method` (a result label), fixed across plots and runs: the slot its method
    registered (MethodSpec.styles), else one from the label's CRC32."""
    slots = plot_slots()
    i = slots[method] if method in slots else zlib.crc32(method.encode())
    return KELLY[i % len(KELLY)], MARKERS[i % len(MARKERS)]


def point_label(row: dict) -> str:
    """What was set to get this point: 's0.3', 'b4kB', 't_margin=0.05' (uniform points need none)."""
    method = str(row.get("method", ""))
    spec = spec_of_label(method)
    if spec is not None and spec.points_from is not None:
        return ""  # its label already names the point: uniform-w4
    options = row.get("method_options")
    if isinstance(options, dict) and options:
        return ",".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in options.items())
    budget = row.get("budget")
    if budget is not None and budget == budget:  # not NaN
        return f"b{budget / 1000:g}k" if budget >= 1000 else f"b{budget:g}"
    strength = row.get("strength")
    reads_strength = spec is None or spec.reads_strength
    if not reads_strength or not isinstance(strength, (int, float)) or strength != strength:
        return ""  # the method does not read strength: its value says nothing about the point
    return f"s{strength:g}"
