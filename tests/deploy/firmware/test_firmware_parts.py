"""The firmware's parts that need no emulator: the missing-toolchain line, the boards' data, the linker
script, CMSIS-NN's discovery and source selection, the attribution of mark readings (a board's DWT log)."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.firmware import DEBIAN_PACKAGES, FirmwareError, Toolchain, boards, find_cmsis_nn, get_board, log_counts
from deploy.firmware import toolchain as tc
from deploy.firmware.attribution import MARK_CALIBRATE, MARK_CALL, MARK_RETURN, attribute
from deploy.firmware.build import linker_script
from deploy.firmware.cmsis_lib import cmsis_sources

FOUND = Toolchain(gcc="/x/arm-none-eabi-gcc", nm="/x/nm", size="/x/size", newlib=True, qemu="/x/qemu", host_cc="/x/cc")


def test_nothing_missing_means_no_problem():
    assert FOUND.problem is None
    assert FOUND.require() is FOUND


def test_a_missing_toolchain_is_one_line_naming_the_debian_packages(monkeypatch):
    monkeypatch.setattr(tc.shutil, "which", lambda name: None)
    found = tc.find_toolchain()
    line = found.problem
    assert line is not None and "\n" not in line
    assert " ".join(DEBIAN_PACKAGES) in line  # apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-...
    with pytest.raises(FirmwareError, match="apt-get install"):
        found.require()


def test_missing_newlib_alone_names_its_package():
    line = Toolchain(**{**FOUND.__dict__, "newlib": False}).problem
    assert "libnewlib-arm-none-eabi" in line and "qemu-system-arm" not in line


def test_boards_select_cmsis_nn_paths_and_secure_boot_regions():
    assert {"m4", "m7", "m33", "m55"} <= set(boards())
    assert get_board("m55").cmsis_macro == "ARM_MATH_MVEI" and get_board("m4").cmsis_macro == "ARM_MATH_DSP"
    assert "-mcpu=cortex-m33" in get_board("m33").cflags
    for name in ("m33", "m55"):  # TrustZone boards boot Secure with VTOR = 0x10000000
        assert get_board(name).code.origin == 0x10000000
    for b in boards().values():
        for region in (b.code, b.ram, *([b.rodata] if b.rodata else [])):
            assert region.origin + region.length <= 2**32 and region.length >= 512 * 1024
    with pytest.raises(ValueError, match="unknown board 'm9'"):
        get_board("m9")


def test_linker_script_places_weights_where_the_board_says():
    m55, m4 = linker_script(get_board("m55")), linker_script(get_board("m4"))
    assert "RODATA (r) : ORIGIN = 0x11000000" in m55 and "REGION_ALIAS" not in m55
    assert 'REGION_ALIAS("RODATA", CODE)' in m4 and "ORIGIN = 0x20000000" in m4
    assert "${" not in m55 + m4


def test_cmsis_nn_is_found_through_the_environment(monkeypatch, tmp_path):
    (tmp_path / "Include").mkdir()
    (tmp_path / "Include" / "arm_nnfunctions.h").write_text("")
    monkeypatch.setenv("CMSIS_NN_PATH", str(tmp_path))
    assert find_cmsis_nn() == tmp_path
    monkeypatch.setenv("CMSIS_NN_PATH", str(tmp_path / "nowhere"))
    assert find_cmsis_nn() is None


def test_only_int8_and_int4_sources_are_built(tmp_path):
    src = tmp_path / "Source" / "ConvolutionFunctions"
    src.mkdir(parents=True)
    names = [
        "arm_convolve_s8.c",
        "arm_convolve_s4.c",
        "arm_convolve_s16.c",
        "arm_convolve_f32.c",
        "arm_nn_lstm_step_s8.c",
        "arm_q7_to_q15_with_offset.c",
    ]
    for name in names:
        (src / name).write_text("")
    assert [p.name for p in cmsis_sources(tmp_path)] == [
        "arm_convolve_s4.c",
        "arm_convolve_s8.c",
        "arm_q7_to_q15_with_offset.c",
    ]


def _log(readings_per_inference: list[list[int]], ids: list[int]) -> str:
    return "\n".join(
        f"bg-mark {i} {mark} {value}"
        for i, values in enumerate(readings_per_inference)
        for mark, value in zip(ids, values, strict=True)
    )


def test_a_boards_dwt_log_gives_cycles_per_piece_across_the_wrap():
    markers = [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}, {"id": 2, "name": "(end)"}]
    ids = [MARK_CALIBRATE, MARK_CALIBRATE, MARK_CALL, 0, 1, 2, MARK_RETURN]
    start = 2**32 - 50  # CYCCNT wraps inside the inference
    gaps = [7, 3, 7 + 11, 7 + 100, 7 + 200, 7 + 13]  # mark cost 7; prologue 11, pieces 100, 200, epilogue 13
    values = [(start + int(np.sum(gaps[:k]))) % 2**32 for k in range(len(ids))]
    text = "some output\n" + _log([values, values], ids) + "\nbg-run inputs 2 stack_bytes 100\n"
    counts = log_counts(text, markers)
    assert counts.mark_cost == 7
    np.testing.assert_array_equal(counts.pieces, [[100, 200], [100, 200]])
    np.testing.assert_array_equal(counts.call, [24, 24])
    np.testing.assert_array_equal(counts.total, [324, 324])
    with pytest.raises(FirmwareError, match="do not follow the marker list"):
        log_counts(text, markers[1:])


def test_readings_that_do_not_match_the_marker_list_are_refused():
    with pytest.raises(FirmwareError, match="do not match model.json's marker list"):
        attribute(list(range(10)), n_inputs=1, n_markers=3)
    with pytest.raises(FirmwareError, match="one mark cost"):
        attribute([0, 5, 10, 20, 0, 6, 10, 20], n_inputs=2, n_markers=0)
