"""How numbers are spelt for people: one format for costs, and folder names without exponents.

A summary line that mixed `memory = 2.35615e+06` with `97.50%`, and a folder named
`...-b1e+06-...`, are what `:g` does to large numbers. Costs and budgets are counts (bytes,
cycles, bits): they are printed whole with thousands separators everywhere (summary, sweep table,
progress lines); folder names keep `:g` where it has no exponent, so existing names stay the same.
"""

from __future__ import annotations

_SUFFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def count(value: float) -> str:
    """A cost or budget as people read it: 2,356,154."""
    return f"{value:,.0f}"


def name_number(value: float) -> str:
    """A number for a folder name: 0.3, 2000 (as `:g`), but 1M, 2.5M, 1.04858M instead of 1e+06."""
    text = f"{value:g}"
    if "e" not in text or abs(value) < 1:
        return text
    for scale, suffix in _SUFFIXES:
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return text
