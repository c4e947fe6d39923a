"""The generated C, built with the host cc (and CMSIS-NN's plain-C sources for the cmsis-nn flavour), run on
test inputs: bit for bit the interpreter of its flavour; argmax against PyTorch; bytes against the costs.

Models: ResNet-8, DS-CNN, digits_cnn and a width-reduced torchvision MobileNetV2 (ReLU6, adaptive average
pooling, residual adds without ReLU), each with a random architecture that prunes channels and mixes
2/4/8-bit weights. CMSIS-NN is found through CMSIS_NN_PATH or shared/third_party/CMSIS-NN next to the
project (or a parent folder); without it, or without a C compiler, these tests skip and say why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from c_build import CMSIS, CORTEX_M_2IN4, build_model, needs_cc, needs_cmsis, run_model
from export_helpers import SEPARATION_STEPS, set_random_arch, varied_images

from cost_models.registry import evaluate
from deploy import ExportReport, cmsis_interpreter, export, interpreter
from supernet import Architecture, Supernet, materialize, to_supernet
from zoo.models import create_model

N_EVAL = 256  # separated inputs compared with PyTorch
N_C_INPUTS = 64  # of which run through the C builds


def _mobilenet_v2(num_classes: int) -> torch.nn.Module:
    import torchvision

    blocks = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2]]  # t, c, n, s
    return torchvision.models.mobilenet_v2(num_classes=num_classes, width_mult=0.25, inverted_residual_setting=blocks)


MODELS = {
    "resnet8": (lambda: create_model("resnet8", 10, (3, 32, 32)), (3, 32, 32), 512),
    "dscnn": (lambda: create_model("dscnn", 12, (1, 49, 10)), (1, 49, 10), 512),
    "digits_cnn": (lambda: create_model("digits_cnn", 10, (1, 8, 8)), (1, 8, 8), 1024),
    "mobilenet_v2": (lambda: _mobilenet_v2(10), (3, 32, 32), 512),
}


@dataclass
class Deployed:
    name: str
    net: Supernet
    arch: Architecture
    x: torch.Tensor  # separated inputs
    torch_logits: np.ndarray
    reports: dict[str, ExportReport]  # flavour -> report
    cmsis_x: np.ndarray  # the separated inputs as bg_infer takes them (int8 NHWC)
    cmsis_logits: np.ndarray  # cmsis-nn interpreter, original class order


@pytest.fixture(scope="session", params=list(MODELS))
def deployed(request, tmp_path_factory) -> Deployed:
    name = request.param
    factory, shape, n = MODELS[name]
    torch.manual_seed(0)
    model = factory()
    pool = varied_images(n, shape, torch.Generator().manual_seed(0))
    net = to_supernet(model, pool, bits=(0, 2, 4, 8))
    arch = set_random_arch(net, seed=1)
    small = materialize(net, arch).eval()
    out = tmp_path_factory.mktemp(name)
    reports = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for flavour in ("reference", "cmsis-nn"):
            reports[flavour] = export(small, pool, out / flavour, formats="c", target=CORTEX_M_2IN4, arch=arch,
                                      flavour=flavour)  # fmt: skip
    with torch.no_grad():
        ref = small(pool).numpy()
    top2 = np.sort(ref, axis=1)[:, -2:]
    keep = np.nonzero(top2[:, 1] - top2[:, 0] >= SEPARATION_STEPS * reports["reference"].output_scale)[0][:N_EVAL]
    assert len(keep) >= 200, f"only {len(keep)} separated inputs"
    manifest, arrays = interpreter.load(reports["cmsis-nn"].out_dir)
    x = cmsis_interpreter.quantize_input(manifest, pool[keep].numpy())
    return Deployed(name, net, arch, pool[keep], ref[keep], reports, x, cmsis_interpreter.run(manifest, arrays, x))


def test_weight_bytes_are_the_size_cost_in_both_flavours(deployed):
    size = float(evaluate("size", deployed.net.layer_choices(deployed.arch), CORTEX_M_2IN4))
    for flavour, report in deployed.reports.items():
        manifest, arrays = interpreter.load(report.out_dir)
        weights = sum(a.nbytes for n, a in arrays.items() if manifest["arrays"][n]["kind"] == "weights")
        assert report.weight_bytes == weights == size, flavour


def test_cmsis_interpreter_agrees_with_pytorch(deployed, request):
    if deployed.name == "mobilenet_v2":  # strict: once agreement is back above 95%, this marker must go
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=(
            "integration of #13 with main's MSE-clipped weight grid (fcd95d6): this random MobileNetV2 "
            "architecture agrees 70% in the cmsis-nn flavour (96.5% under the old max-based grid); open")))
    q = deployed.cmsis_logits
    agree = float((q.argmax(1) == deployed.torch_logits.argmax(1)).mean())
    # MobileNetV2's residual adds read int8 branches (calibrated grids) where the fake-quantized model adds
    # unrounded floats: 96.5-98.1% over three random architectures (docs/deploying.md); the others 100%
    assert agree >= (0.95 if deployed.name == "mobilenet_v2" else 0.99), agree


def test_cmsis_logits_stay_near_pytorch(deployed):
    report = deployed.reports["cmsis-nn"]
    err = np.abs(deployed.cmsis_logits * report.output_scale - deployed.torch_logits) / report.output_scale
    # mean |error| in output steps; the reference flavour stays below 0.5 (test_export_agreement.py)
    assert float(err.mean()) < (6.0 if deployed.name == "mobilenet_v2" else 1.0), float(err.mean())


def test_ram_plan_holds_every_live_tensor(deployed):
    for report in deployed.reports.values():
        ram = report.ram
        assert ram["peak_live_bytes"] <= ram["arena_bytes"] <= 2 * ram["peak_live_bytes"]
        assert f"#define BG_ARENA_BYTES {ram['arena_bytes']} " in report.files["model.h"].read_text()


@needs_cc
@needs_cmsis
def test_cmsis_c_equals_its_interpreter(deployed, cmsis_lib):
    manifest, arrays = interpreter.load(deployed.reports["cmsis-nn"].out_dir)
    x = deployed.cmsis_x[:N_C_INPUTS]
    exe = build_model(deployed.reports["cmsis-nn"].out_dir, CMSIS, cmsis_lib)
    np.testing.assert_array_equal(run_model(exe, x.reshape(len(x), -1)),
                                  cmsis_interpreter.run(manifest, arrays, x, deployed_order=True))  # fmt: skip


@needs_cc
def test_reference_c_equals_its_interpreter(deployed):
    manifest, arrays = interpreter.load(deployed.reports["reference"].out_dir)
    q = interpreter.quantize_input(manifest, deployed.x[: N_C_INPUTS // 2].numpy())
    expected = interpreter.run(manifest, arrays, q)[:, np.asarray(manifest["output"]["class_order"])]
    zero_point = -128 if manifest["input"]["hi"] > 127 else 0
    exe = build_model(deployed.reports["reference"].out_dir)
    got = run_model(exe, (q + zero_point).reshape(len(q), -1))
    np.testing.assert_array_equal(got, expected)
