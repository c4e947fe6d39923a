"""The instruction counts are exact and failures are clear: a hand-written bg_infer whose pieces are
loops of known length (1 + 2 * 100 instructions; 2 * n for an input-given n) is counted to the
instruction on every core; a fault, a hang and a kernel error each end as FirmwareError, not a hang."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import CORES, needs_firmware

from deploy.firmware import FirmwareError, build_firmware, run_firmware

pytestmark = needs_firmware

MODEL_H = """#include <stdint.h>
#define BG_INPUT_SIZE 4
#define BG_OUTPUT_SIZE 2
#ifdef BG_PROFILE
void bg_mark(uint32_t id);
#define BG_MARK(id) bg_mark(id)
#else
#define BG_MARK(id) ((void)0)
#endif
int bg_infer(const int8_t *in, int8_t *out);
"""
MODEL_C = r"""#include "model.h"
/* in[0]: 0 runs, 1 faults, 2 hangs, 3 fails; in[1..2]: the variable loop's length - 1 */
int bg_infer(const int8_t *in, int8_t *out)
{
  uint32_t n = (uint32_t)(uint8_t)in[1] * 256u + (uint8_t)in[2] + 1u;
  BG_MARK(0);
  __asm volatile("movs r3, #100\n1:\n\tsubs r3, #1\n\tbne 1b\n" ::: "r3", "cc");
  BG_MARK(1);
  __asm volatile("1:\n\tsubs %0, %0, #1\n\tbne 1b\n" : "+r"(n) : : "cc");
  BG_MARK(2);
  if (in[0] == 1) __asm volatile("udf #0");
  if (in[0] == 2) __asm volatile("b .");
  if (in[0] == 3) return -5;
  out[0] = in[1];
  out[1] = in[2];
  BG_MARK(3);
  return 0;
}
"""
MARKERS = [
    {"id": 0, "op": 0, "name": "fixed loop", "kind": "glue", "what": "loop"},
    {"id": 1, "op": 1, "name": "variable loop", "kind": "glue", "what": "loop"},
    {"id": 2, "op": 2, "name": "copy", "kind": "glue", "what": "copy_output"},
    {"id": 3, "op": None, "name": "(end)", "kind": "end", "what": "end"},
]
FIXED_LOOP = 1 + 2 * 100


@pytest.fixture(scope="module")
def loop_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("loop-export")
    (out / "model.h").write_text(MODEL_H)
    (out / "model.c").write_text(MODEL_C)
    manifest = {
        "flavour": "cmsis-nn",
        "input": {"shape": [4]},
        "output": {"id": 0},
        "tensors": [{"shape": [2]}],
        "arrays": {},
        "markers": MARKERS,
    }
    (out / "model.json").write_text(json.dumps(manifest))
    return out


def _inputs(*rows: tuple[int, int, int, int]) -> np.ndarray:
    return np.asarray(rows, dtype=np.uint8).view(np.int8)


@pytest.mark.parametrize("core", CORES)
def test_known_loops_are_counted_to_the_instruction(loop_export, cmsis_libraries, core):
    fw = build_firmware(loop_export, core, out_dir=loop_export / "fw" / core)
    lengths = np.array([1, 100, 1000, 40000])  # n of the variable loop
    x = _inputs(*((0, (n - 1) // 256, (n - 1) % 256, 0) for n in lengths))
    m = run_firmware(fw, x)
    np.testing.assert_array_equal(m.outputs.view(np.uint8), x.view(np.uint8)[:, 1:3])
    assert np.all(m.per_marker[:, 0] == FIXED_LOOP), m.per_marker[:, 0]
    variable = m.per_marker[:, 1]
    np.testing.assert_array_equal(variable - variable[0], 2 * (lengths - lengths[0]))
    assert variable[0] - 2 * lengths[0] in (0, 1)  # at most a register move besides the loop
    np.testing.assert_array_equal(m.per_marker.sum(axis=1) + m.counts.call, m.instructions)
    assert m.counts.mark_cost > 0


def test_production_build_counts_the_same_loops(loop_export, cmsis_libraries):
    fw = build_firmware(loop_export, "m4", profile=False, out_dir=loop_export / "fw" / "m4-production")
    assert fw.markers == ()
    m = run_firmware(fw, _inputs((0, 0, 9, 0), (0, 1, 9, 0)))
    assert m.per_marker.shape == (2, 0)
    assert m.instructions[1] - m.instructions[0] == 2 * 256
    assert m.instructions[0] >= FIXED_LOOP + 2 * 10


@pytest.fixture(scope="module")
def m4_firmware(loop_export, cmsis_libraries):
    return build_firmware(loop_export, "m4", out_dir=loop_export / "fw" / "m4-errors")


def test_a_fault_ends_the_run_with_a_clear_error(m4_firmware):
    with pytest.raises(FirmwareError, match=r"crashed \(exit status 5 FAULT\).*fault, exception 00000003"):
        run_firmware(m4_firmware, _inputs((0, 0, 0, 0), (1, 0, 0, 0)), timeout=60)


def test_a_hang_ends_at_the_timeout(m4_firmware):
    with pytest.raises(FirmwareError, match="did not finish within 3 s"):
        run_firmware(m4_firmware, _inputs((2, 0, 0, 0)), timeout=3)


def test_a_kernel_error_is_reported_with_its_status(m4_firmware):
    with pytest.raises(FirmwareError, match="bg_infer failed.*returned -5 on input 1"):
        run_firmware(m4_firmware, _inputs((0, 0, 0, 0), (3, 0, 0, 0)), timeout=60)


def test_inputs_must_be_bg_infers_int8_rows(m4_firmware):
    with pytest.raises(TypeError, match="int8"):
        run_firmware(m4_firmware, np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="4 bytes"):
        run_firmware(m4_firmware, np.zeros((1, 5), dtype=np.int8))
