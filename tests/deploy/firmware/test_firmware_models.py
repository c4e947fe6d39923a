"""Exports of random mixed architectures (digits_cnn, ResNet-8, DS-CNN, MobileNetV2: pruned channels, 2/4/8-bit
weights) as firmware on every emulated core (conftest.MODELS says which run by default): outputs bit for bit
the cmsis_interpreter's, Flash and static RAM read from the ELF equal to the export's figures, instruction
counts that add up, one mark per listed marker."""

from __future__ import annotations

import numpy as np
from conftest import needs_firmware

from deploy.firmware.attribution import CALL, MARK_CALIBRATE, MARK_CALL, MARK_RETURN
from deploy.firmware.build import STACK_BYTES

pytestmark = needs_firmware


def test_outputs_equal_the_interpreter_bit_for_bit(measured):
    export, _, m = measured
    np.testing.assert_array_equal(m.outputs, export.expected)


def test_flash_from_the_elf_is_the_manifests_bytes(measured):
    export, fw, m = measured
    sizes = export.manifest["bytes"]
    assert (m.flash_weight_bytes, m.flash_metadata_bytes) == (sizes["weights"], sizes["metadata"])
    assert m.flash_model_bytes == sizes["flash"]  # no other model constant (no standalone BatchNorm here)
    assert fw.memory.sections[".rodata"] >= m.flash_model_bytes


def test_static_ram_from_the_elf_is_the_exports_ram(measured):
    export, fw, m = measured
    ram = export.manifest["ram"]
    assert m.static_ram_bytes == ram["ram_bytes"]
    assert fw.memory.model_ram["bg_arena_words"] == ram["arena_bytes"]


def test_pieces_and_ops_add_up_to_each_inference(measured):
    export, _, m = measured
    assert m.per_marker.shape == (len(export.x), len(export.manifest["markers"]) - 1)
    assert np.all(m.per_marker >= 0) and np.all(m.instructions > 0)
    for grouping in (m.per_op(), m.per_kernel()):
        np.testing.assert_array_equal(sum(grouping.values()), m.instructions)
    layers = m.per_layer()
    assert set(layers) == {op["name"] for op in export.manifest["ops"] if op["op"] == "conv"}
    assert CALL in m.per_op() and CALL not in layers
    kernels = sum(v for k, v in m.per_kernel().items() if k.startswith("arm_"))
    assert np.all(kernels > 0.5 * m.instructions)  # the CMSIS-NN kernels do most of the work


def test_one_mark_per_listed_marker_in_the_log(measured):
    export, _, m = measured
    ids = [i for i, _ in m.cycle_log[0]]
    markers = [mk["id"] for mk in export.manifest["markers"]]
    assert ids == [MARK_CALIBRATE, MARK_CALIBRATE, MARK_CALL, *markers, MARK_RETURN]
    assert sorted(m.cycle_log) == list(range(len(export.x)))
    assert markers == list(range(len(markers)))


def test_stack_high_water_mark_is_measured(measured):
    _, _, m = measured
    assert 0 < m.stack_bytes < STACK_BYTES
