"""Longer firmware checks (-m slow): other optimisation levels, the plain-C Cortex-M3, the production
build's totals against the profiling build's, and a MobileNetV2 of a few hundred kB on every board."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from c_build import CORTEX_M_2IN4
from conftest import CORES, needs_firmware
from export_helpers import varied_images

from deploy import cmsis_interpreter, export, interpreter
from deploy.firmware import build_firmware, run_firmware
from supernet import discretize, materialize, to_supernet

pytestmark = [needs_firmware, pytest.mark.slow]


@pytest.fixture(scope="module")
def resnet8(exports, cmsis_libraries):
    return exports("resnet8")


@pytest.mark.parametrize(("core", "opt"), [("m4", "-O3"), ("m4", "-Os"), ("m55", "-O3"), ("m55", "-Os"), ("m3", "-O2")])
def test_other_levels_and_the_m3_are_bit_exact(resnet8, core, opt):
    fw = build_firmware(resnet8.out_dir, core, opt)
    m = run_firmware(fw, resnet8.x)
    np.testing.assert_array_equal(m.outputs, resnet8.expected)
    np.testing.assert_array_equal(sum(m.per_op().values()), m.instructions)


def test_production_totals_match_the_profiling_build(resnet8):
    prof = run_firmware(build_firmware(resnet8.out_dir, "m4", profile=True), resnet8.x)
    prod = run_firmware(build_firmware(resnet8.out_dir, "m4", profile=False), resnet8.x)
    np.testing.assert_array_equal(prod.outputs, prof.outputs)
    assert np.all(np.abs(prod.instructions - prof.instructions) <= 1e-4 * prof.instructions)


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory, cmsis_libraries):
    import torchvision

    torch.manual_seed(0)
    pool = varied_images(128, (3, 32, 32), torch.Generator().manual_seed(0))
    net = to_supernet(torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.35), pool, bits=(8,))
    arch = discretize(net)
    out = tmp_path_factory.mktemp("fw-mobilenet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = export(
            materialize(net, arch).eval(), pool, out, formats="c", target=CORTEX_M_2IN4, arch=arch, flavour="cmsis-nn"
        )
    manifest, arrays = interpreter.load(out)
    x = cmsis_interpreter.quantize_input(manifest, pool[:1].numpy())
    return report, x, cmsis_interpreter.run(manifest, arrays, x, deployed_order=True)


@pytest.mark.parametrize("core", CORES)
def test_a_mobilenet_v2_of_a_few_hundred_kb_fits_and_runs(mobilenet, core):
    report, x, expected = mobilenet
    assert report.flash_bytes > 300_000
    m = run_firmware(build_firmware(report.out_dir, core), x)
    np.testing.assert_array_equal(m.outputs, expected)
    assert m.flash_model_bytes >= report.flash_bytes
