"""The exported integers compute what the fake-quantized PyTorch network computes.

Measured on 256 inputs per case (conftest.py says how they are drawn):
  - onnxruntime vs PyTorch (small(x)): argmax agreement >= 99%, and every logit within one output
    quantization step. The output grid is int8: step = max |logit| on the calibration batch / 127.
  - numpy interpreter vs onnxruntime: one LSB = one step of that int8 output grid. The
    interpreter's int8 logit and round(onnxruntime logit / step) differ by at most 1 LSB, and
    are identical for at least 95% of the logits.
"""

from __future__ import annotations

import numpy as np


def test_onnxruntime_matches_pytorch(any_case):
    c = any_case
    agree = float((c.ort_logits.argmax(1) == c.torch_logits.argmax(1)).mean())
    assert agree >= 0.99, f"{c.name}: argmax agreement {agree:.3f}"
    worst = float(np.abs(c.ort_logits - c.torch_logits).max()) / c.step
    assert worst <= 1.0, f"{c.name}: largest logit difference {worst:.3f} output steps"


def test_interpreter_matches_onnxruntime(any_case):
    c = any_case
    ort_lsb = np.rint(c.ort_logits / c.step).astype(np.int64)
    diff = np.abs(c.int_logits.astype(np.int64) - ort_lsb)
    assert diff.max() <= 1, f"{c.name}: interpreter differs from onnxruntime by {diff.max()} LSB"
    exact = float((diff == 0).mean())
    assert exact >= 0.95, f"{c.name}: only {exact:.3f} of the logits are bit-exact"


def test_interpreter_is_integer_and_in_range(any_case):
    c = any_case
    assert np.issubdtype(c.int_logits.dtype, np.integer)
    assert c.int_logits.min() >= -127 and c.int_logits.max() <= 127


def test_resnet8_predictions_are_not_degenerate(resnet8_case):
    """Argmax agreement means something only if the network predicts several classes."""
    assert len(np.unique(resnet8_case.torch_logits.argmax(1))) >= 2


def test_every_layer_prunes_and_mixes_precisions(zoo_case):
    for name, bits in zoo_case.arch.weight_bits.items():
        kept = {b for b in bits if b}
        assert kept == {2, 4, 8}, f"{name}: {sorted(kept)}"
        if name in zoo_case.net.layer_names and 0 in zoo_case.net.layer(name).gates.options:
            assert 0 in bits, f"{name} prunes nothing"
