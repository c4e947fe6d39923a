"""The C export's bytes are the cost models' bytes: packed weights == `size`, + metadata == `memory`."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from cost_models.registry import evaluate
from deploy import export, interpreter
from deploy.packing import packed_bytes
from targets.target import Target


def test_weights_equal_size_cost_and_flash_equals_memory_cost(any_case):
    c = any_case
    assert c.report.weight_bytes == c.manifest["bytes"]["weights"] == c.cost("size")
    assert c.report.flash_bytes == c.manifest["bytes"]["flash"] == c.cost("memory")
    assert c.report.weight_bytes + c.report.metadata_bytes == c.report.flash_bytes


def test_every_weight_array_is_one_precision_group_of_one_layer(any_case):
    m = any_case.manifest
    total, kept = 0, 0
    for op in (o for o in m["ops"] if o["op"] == "layer"):
        n = op["out_channels"]
        kept += n
        assert sum(g["count"] for g in op["precision_groups"]) == n
        for g in op["precision_groups"]:
            want = packed_bytes(g["count"] * op["weights_per_channel"], g["storage_bits"])
            assert m["arrays"][g["weights"]]["bytes"] == g["bytes"] == want
            total += want
        for key, size in (("bias", 4), ("multiplier", 4), ("shift", 1)):
            assert m["arrays"][op[key]]["bytes"] == n * size
    assert total == m["bytes"]["weights"]
    assert m["bytes"]["metadata"] == 9 * kept


def test_storage_bits_of_the_target_are_used(resnet8_case, tmp_path):
    """A target storing 2-bit weights in 4-bit fields: bytes follow `size` on that target, and the
    interpreter decodes the same integers (identical logits)."""
    c = resnet8_case
    target = Target(
        "nibble",
        "2-bit weights in 4-bit fields",
        2**21,
        2**19,
        10**8,
        (0, 2, 4, 8),
        (8,),
        ("memory",),
        storage_bits={2: 4},
    )
    report = export(c.small, c.x, tmp_path, formats="c", target=target)
    choices = c.net.layer_choices(c.arch)
    assert report.weight_bytes == float(evaluate("size", choices, target)) > c.report.weight_bytes
    assert report.flash_bytes == float(evaluate("memory", choices, target))
    manifest, arrays = interpreter.load(tmp_path)
    q = interpreter.run(manifest, arrays, interpreter.quantize_input(manifest, c.x[:32].numpy()))
    np.testing.assert_array_equal(q, c.int_logits[:32])


_ARRAY = re.compile(r"static const (u?int(?:8|32))_t bg_(\w+)\[(\d+)\] = \{(.*?)\};", re.S)


def test_c_source_holds_the_bin_arrays(resnet8_case):
    c = resnet8_case
    text = c.report.files["model.c"].read_text()
    found = {
        name: (dtype, int(n), [int(v, 0) for v in body.replace("\n", " ").split(",")])
        for dtype, name, n, body in _ARRAY.findall(text)
    }
    assert set(found) == set(c.arrays)
    for name, (dtype, n, values) in found.items():
        assert dtype == str(c.arrays[name].dtype) and n == len(values) == c.arrays[name].size
        assert values == c.arrays[name].tolist()
    assert f"#define BG_FLASH_BYTES {c.report.flash_bytes}" in c.report.files["model.h"].read_text()


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_header_compiles_and_sizes_add_up(resnet8_case, tmp_path):
    c = resnet8_case
    total = " + ".join(f"sizeof(bg_{name})" for name in c.arrays)
    src = tmp_path / "check.c"
    src.write_text(
        f'#include "model.c"\n_Static_assert({total} == BG_FLASH_BYTES, "flash bytes");\n'
        "int main(void) { return 0; }\n"
    )
    inc = str(c.report.files["model.h"].parent)
    done = subprocess.run(["cc", "-std=c11", "-fsyntax-only", "-I", inc, str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
