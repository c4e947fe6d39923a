"""The fitted latency model against the emulator, end to end on one core (a few seconds), and a board's DWT
log turned into cycles per instruction. Skipped, with the line saying what to install, without the tools."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cost_models.latency_cortexm import instructions, target_table
from deploy.calibration.dwt import import_log, set_target_cpi
from deploy.calibration.grid import random_arch
from deploy.firmware import build_firmware, find_cmsis_nn, find_toolchain, run_firmware
from search.pricing import layer_choices
from supernet import materialize, to_supernet
from targets import get_target
from zoo import create_model

MISSING = find_toolchain().problem or (None if find_cmsis_nn() else "CMSIS-NN sources not found")
needs_firmware = pytest.mark.skipif(MISSING is not None, reason=f"firmware tests skip: {MISSING}")
GOAL = 0.05  # the benchmark's median goal (benchmarks/cortexm_latency_model.py), here for one network


@pytest.fixture(scope="module")
def digits_export(tmp_path_factory):
    """A digits_cnn (not in the calibration grid) with a mixed 4/8-bit pruned architecture, exported."""
    from deploy import export

    torch.manual_seed(0)
    pool = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    net = to_supernet(create_model("digits_cnn", 10, (1, 8, 8)), pool, bits=(0, 4, 8))
    arch = random_arch(net, 3)
    out = tmp_path_factory.mktemp("digits")
    export(materialize(net, arch).eval(), pool, out, formats="c", arch=arch, flavour="cmsis-nn")
    return net, arch, out


@needs_firmware
def test_the_model_predicts_a_measured_export_within_the_goal(digits_export):
    net, arch, out = digits_export
    target = get_target("stm32l4")
    fw = build_firmware(out, "m4", profile=False)
    measured = int(run_firmware(fw, np.zeros((1, fw.input_size), dtype=np.int8)).instructions[0])
    with torch.no_grad():
        predicted = float(instructions(layer_choices(net, arch), target_table(target), target))
    assert abs(predicted / measured - 1) < GOAL, (predicted, measured)


def _board_log(fw, m, cpi: int) -> str:
    """What a board running at exactly `cpi` cycles per instruction would print (the harness's mark order)."""
    ids = [0xFFF0, 0xFFF0, 0xFFF1, *(mk["id"] for mk in fw.markers), 0xFFF2]
    mark, call, pieces = m.counts.mark_cost, int(m.counts.call[0]), m.counts.pieces[0].tolist()
    clock = [1000, 1000 + cpi * mark, 1000 + cpi * mark + 37]
    for work in [call, *pieces, 0]:
        clock.append(clock[-1] + cpi * (work + mark))
    return "\n".join(f"bg-mark 0 {i} {c % 2**32}" for i, c in zip(ids, clock, strict=True)) + "\n"


@needs_firmware
def test_a_board_log_gives_its_cycles_per_instruction(digits_export, tmp_path):
    _, _, out = digits_export
    fw = build_firmware(out, "m4", profile=True)
    m = run_firmware(fw, np.zeros((1, fw.input_size), dtype=np.int8))
    fit = import_log(_board_log(fw, m, 3), out, "m4")
    assert fit.cpi == pytest.approx(3.0, rel=1e-9) and fit.instructions == m.instructions[0]
    assert all(row["cpi"] == pytest.approx(3.0, rel=1e-9) for row in fit.per_kind.values())
    target = tmp_path / "board.toml"
    target.write_text('name = "b"\n[params]\ncycles_per_instruction = 1.5  # a guess\n')
    log = tmp_path / "board.log"
    assert "cycles_per_instruction = 3  # measured: board.log" in set_target_cpi(target, fit, log)
