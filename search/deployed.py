"""The accuracy of the network as the deploy flavour computes it, beside the fake-quantized one.

A run reports its fine-tuned network's test accuracy in float arithmetic on the quantization grids. The
cmsis-nn flavour computes in int8 (rounded residual branches, averages rounded half away from zero,
requantization that rounds twice), which can move a logit by a step and, on a network whose logits are
close, an argmax. deploy.cmsis_torch builds the network that computes exactly what the exported
kernels compute (bit for bit the export, calibrated on the same training samples as `bitgate export`),
so a run can say what its deployed network scores.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from deploy.api import CALIBRATION_SAMPLES
from supernet.graph import UnsupportedModelError
from zoo.data import DataSplits, batches

log = logging.getLogger("bitgate")
EVAL_BATCH = 500


def deployed_test_accuracy(small: nn.Module, data: DataSplits, flavour: str) -> float | None:
    """Test accuracy of `small` as `flavour`'s export computes it (None: the flavour is the reference one,
    whose integer model is the fake-quantized network's own arithmetic, or a network it cannot emulate)."""
    if flavour != "cmsis-nn":
        return None
    from deploy.cmsis_torch import cmsis_network

    calibration = data.train.batch(slice(0, CALIBRATION_SAMPLES))[0]
    try:
        with torch.no_grad():
            network = cmsis_network(small.cpu().eval(), calibration.cpu())
    except UnsupportedModelError as exc:
        log.warning(f"deployed accuracy not measured: {exc}")
        return None
    correct = 0
    for x, y in batches(data.test, EVAL_BATCH):  # the exact kernels run on the CPU, wherever the data is
        correct += int((network(x.cpu()).argmax(1) == y.cpu()).sum())
    return correct / max(len(data.test), 1)
