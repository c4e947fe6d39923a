"""`bitgate report` shows what `bitgate verify` measured (RUN/verify.json) beside the predicted costs, and
nothing of the kind for points that were not verified."""

from __future__ import annotations

import json
import re
from pathlib import Path

from deploy.verify import CoreResult, LatencyPrediction, Prediction, VerifyResult
from reports.html import write_report
from reports.points import find_points


def _verify_json(run: Path, memory: float, ram: float) -> None:
    """A verify.json as `bitgate verify` writes it: m4 measured 10 B more Flash than predicted, m55 exact."""
    cores = tuple(
        CoreResult(
            core=core,
            machine="mps",
            outputs_equal=40,
            outputs_total=40,
            inputs_bit_exact=4,
            argmax_agree=3,
            argmax_compared=3,
            flavour_equal=40,
            flash_model_bytes=int(memory) + extra,
            flash_weight_bytes=0,
            flash_metadata_bytes=0,
            static_ram_bytes=int(ram),
            ram_objects={},
            stack_bytes=612,
            instructions=[1000, 1002],
            per_layer={},
            per_kernel={},
            seconds=0.1,
        )
        for core, extra in (("m4", 10), ("m55", 0))
    )
    pred = Prediction(memory, ram, {"m4": LatencyPrediction("stm32l4", "latency_cortexm", "cycles", 1500.0)})
    (run / "verify.json").write_text(json.dumps(VerifyResult(run / "export", "-O2", 4, 0.1, pred, cores).to_dict()))


def test_verified_points_show_measured_next_to_predicted(tmp_path, hand_run):
    keep_all = lambda layer, n: [8] * n  # noqa: E731
    verified = hand_run(tmp_path / "sweep" / "00-h7", "digits_cnn", "stm32h7", keep_all)
    hand_run(tmp_path / "sweep" / "01-h7", "digits_cnn", "stm32h7", keep_all)
    costs = json.loads((verified / "metrics.json").read_text())["costs"]
    _verify_json(verified, costs["memory"], costs["peak_activation_ram"])
    points = find_points(tmp_path / "sweep")
    assert [len(p.measured) for p in points] == [2, 0]
    html = write_report(tmp_path / "sweep").read_text()
    section = html[html.index("<h2>Measured on emulated cores</h2>") : html.index("<h2>Architectures</h2>")]
    rows = re.findall(r"<tr><td", section)
    assert len(rows) == 2  # one per verified core of the one verified point
    mem, ram = f"{costs['memory']:,.0f}", f"{costs['peak_activation_ram']:,.0f}"
    assert f"{costs['memory'] + 10:,.0f} / {mem} (+" in section and f"{mem} = {mem}" in section
    assert f"{ram} = {ram}" in section and "1,001" in section and "1,500 cycles (stm32l4)" in section
    assert re.findall(r'<td class="l">(\d\d) ', section) == ["00", "00"]  # only the verified point
    assert "<tr data-i" not in section  # the points table alone selects points


def test_a_report_without_verified_points_has_no_measured_section(tmp_path, hand_run):
    hand_run(tmp_path / "sweep" / "00-h7", "digits_cnn", "stm32h7", lambda layer, n: [8] * n)
    assert "Measured on emulated cores" not in write_report(tmp_path / "sweep").read_text()
