"""What the search predicted is what the cores measure, for digits_cnn, ResNet-8, DS-CNN and a width-reduced
MobileNetV2 with random mixed architectures (pruned channels, 2/4/8-bit weights, 2-bit in s4 fields):

  on every core   Flash read from the ELF == the `memory` cost and static RAM from the ELF ==
                  `peak_activation_ram`, priced for a target whose flavour is cmsis-nn; the firmware's
                  logits == PyTorch's bit for bit (the fake-quantized network computing the flavour's
                  arithmetic, deploy.cmsis_torch), so its argmax too; and == the interpreter's
                  (test_firmware_models.py)
  per model       the interpreter agrees with PyTorch on >= 99% of 256 separated inputs: the same exports
                  (export_helpers.random_mixed) in tests/deploy/test_deploy_c.py; with bit-exactness on
                  every core that is the firmware's agreement, for a numpy run instead of hundreds of
                  emulated inferences

Each (model, core) is built and run once per session (conftest.measured); conftest.MODELS says which
cores run by default (MobileNetV2's other cores under -m slow).
"""

from __future__ import annotations

import numpy as np
from c_build import CORTEX_M_2IN4
from conftest import needs_firmware

from cost_models import evaluate
from deploy.buffers import plan_buffers
from deploy.verify import separated

pytestmark = needs_firmware
CMSIS_TARGET = CORTEX_M_2IN4.with_flavour("cmsis-nn")  # prices 12 B of metadata and the cmsis-nn RAM plan


def _cost(export, name: str) -> float:
    return float(evaluate(name, export.net.layer_choices(export.arch, plan=plan_buffers), CMSIS_TARGET))


def _step(export) -> float:
    return float(export.manifest["output"]["scale"])


def _logits(export, outputs: np.ndarray) -> np.ndarray:
    """bg_infer's outputs in the original class order."""
    out = np.empty_like(outputs)
    out[:, np.asarray(export.manifest["output"]["class_order"])] = outputs
    return out


def test_flash_from_the_elf_is_the_memory_cost(measured):
    export, _, m = measured
    assert m.flash_model_bytes == _cost(export, "memory")


def test_static_ram_from_the_elf_is_the_peak_activation_ram_cost(measured):
    export, _, m = measured
    assert m.static_ram_bytes == _cost(export, "peak_activation_ram")
    assert 0 < m.stack_bytes  # measured beside it, not part of the static figure


def test_the_firmware_logits_are_pytorchs_bit_for_bit(measured):
    export, _, m = measured
    np.testing.assert_array_equal(_logits(export, m.outputs), np.rint(export.torch_logits / _step(export)))


def test_the_firmware_argmax_is_pytorchs_on_separated_inputs(measured):
    export, _, m = measured
    keep = separated(export.torch_logits, _step(export))
    assert keep.any(), "no separated input among the emulated ones: run more"
    np.testing.assert_array_equal(_logits(export, m.outputs).argmax(1)[keep], export.torch_logits.argmax(1)[keep])
