"""One colour per weight bit-width, used by every architecture picture (PNG and HTML alike).

Kept channels run from light (few bits) to dark (many bits) along one blue ramp, so "darker means
more bytes" reads at a glance; pruned channels (0 bits) are a warm grey of their own, outside the
ramp, so a cut never looks like a low bit-width. Colours are fixed per bit-width, not per picture:
8 bits is the same blue in every run of every report. (Per-METHOD colours for Pareto plots are a
different palette and live elsewhere.)
"""

from __future__ import annotations

PRUNED = "#cdbfb3"  # 0 bits: the channel is removed
BITS: dict[int, str] = {  # ColorBrewer "Blues" (colorbrewer2.org, 9-class), light to dark
    1: "#c6dbef",
    2: "#9ecae1",
    3: "#6baed6",
    4: "#4292c6",
    5: "#2171b5",
    6: "#1764ab",
    7: "#0d539c",
    8: "#08306b",
}
WIDER = "#041a3b"  # more than 8 bits (e.g. a float reference): darker than the ramp
SHARE: dict[str, str] = {"bytes": "#8c6d31", "cycles": "#843c39"}  # per-layer cost-share bars, by unit
SHARE_OTHER = "#636363"


def bit_colour(bits: int) -> str:
    """The fixed colour of channels stored at `bits` bits (0 = pruned)."""
    if bits < 0:
        raise ValueError(f"bit-width must be >= 0, got {bits}")
    if bits == 0:
        return PRUNED
    return BITS.get(bits, WIDER)


def bit_label(bits: int) -> str:
    return "pruned" if bits == 0 else f"{bits}-bit"


def share_colour(unit: str) -> str:
    """Colour of a per-layer cost-share bar, by the cost's unit (bytes, cycles, ...)."""
    return SHARE.get(unit, SHARE_OTHER)
