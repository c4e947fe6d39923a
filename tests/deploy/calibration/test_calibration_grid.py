"""The calibration grid and its samples, without the emulator: seeded networks that export, pieces mapped to
the kinds and loop counts the latency model prices, and a fit that recovers known coefficients."""

from __future__ import annotations

import numpy as np
import pytest

from cost_models.cortexm_calls import KINDS
from cost_models.cortexm_features import Call
from deploy.calibration import FAMILIES, export_grid_net, grid, samples_of
from deploy.calibration.fit import CANDIDATES, fit_kind
from deploy.calibration.samples import Sample


def test_the_grid_is_the_same_every_time_and_has_every_family():
    a, b = grid(15, 0), grid(15, 0)
    assert [(g.name, g.in_shape, g.arch_seed) for g in a] == [(g.name, g.in_shape, g.arch_seed) for g in b]
    assert {g.family for g in a} == set(FAMILIES)
    assert [g.name for g in grid(15, 1)] == [g.name for g in a] and grid(15, 1)[0].arch_seed != a[0].arch_seed
    assert str(a[3].build()) == str(b[3].build())


def test_every_kind_has_candidate_features():
    assert set(CANDIDATES) == set(KINDS)


def test_pieces_become_samples_of_the_kernel_kinds_model_c_calls(tmp_path):
    nets = {g.family: g for g in grid(15, 0)}
    seen = set()
    for family in ("dw", "res"):
        e = export_grid_net(nets[family], tmp_path / family)
        markers = e.manifest["markers"]
        pieces = np.arange(1, len(markers), dtype=np.int64) * 10
        samples = samples_of(e.manifest, markers, pieces, 7, "dsp", family)
        assert len(samples) == len(markers) - 1
        assert [s.instructions for s in samples[:-1]] == pieces[:-1].tolist()
        assert samples[-1].kind == "network" and samples[-1].instructions == pieces[-1] + 7
        for s, m in zip(samples, markers, strict=False):
            if m["what"].startswith("arm_depthwise_conv_wrapper"):
                assert s.kind in ("dw3x3_s8", "dwopt_s8", "dw_s8")
            if m.get("channels"):
                assert s.call["n"] == m["channels"][1] - m["channels"][0]
        seen |= {s.kind for s in samples}
    assert {"add", "network"} <= seen and seen & {"dw3x3_s8", "dwopt_s8", "dw_s8", "dw_s4"}
    assert seen & {"conv1x1_s8", "conv1x1_s4"}  # the pointwise convs of the dw family


def test_the_fit_recovers_the_coefficients_that_made_the_counts():
    rng = np.random.default_rng(0)
    samples = []
    for i in range(40):
        e = int(rng.integers(8, 4000))
        call = Call(E=float(e), c=float(e), P=1)
        samples.append(Sample("add", {"E": e, "c": e, "P": 1}, int(round(150 + 80 * e)), f"synthetic {i}"))
        assert call.feature("E") == e
    fit = fit_kind("add", samples)
    assert fit.coefficients == pytest.approx({"E": 80.0, "1": 150.0}, rel=1e-4)
    assert fit.max_error < 1e-4
