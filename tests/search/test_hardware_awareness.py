"""Hardware-awareness: one model, one data set, one strength; only the target's latency model differs.

MPIC has sub-byte SIMD (fewer bits save cycles); GAP8 has 8-bit SIMD only (fewer bits save
memory, not cycles). The searches must move apart in that direction.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from search.config import SearchConfig
from search.run import run
from supernet import Architecture


def _mean_kept_bits(folder: Path, skip: str) -> float:
    arch = Architecture.load(folder / "arch.json")
    bits = [b for name, bs in arch.weight_bits.items() if name != skip for b in bs if b > 0]
    return sum(bits) / len(bits)


@pytest.mark.slow  # two end-to-end searches (about a minute)
def test_mpic_lowers_precision_where_gap8_keeps_8_bits(tmp_path):
    base = SearchConfig(
        model="digits_cnn",
        dataset="digits",
        warmup_epochs=10,
        search_epochs=30,
        finetune_epochs=0,
        batch_size=64,
        lr=0.002,
        arch_lr=0.01,
        strength=0.03,
        out_dir=str(tmp_path),
        progress=False,
    )
    for target, cost in (("mpic", "latency_mpic"), ("gap8", "latency_gap8")):
        run(replace(base, target=target, cost=cost, name=target))
    mpic = _mean_kept_bits(tmp_path / "mpic", skip="fc")
    gap8 = _mean_kept_bits(tmp_path / "gap8", skip="fc")
    assert gap8 > 7.5  # bits buy nothing on GAP8: kept conv channels stay at 8 bits
    assert mpic < gap8 - 0.75  # on MPIC the search trades precision for cycles
