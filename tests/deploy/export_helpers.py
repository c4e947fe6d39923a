"""Shared builders of the export tests (imported by conftest.py and the test modules).

A case: a model calibrated on random inputs, a random architecture in which every layer prunes
channels (where allowed) and mixes weight precisions, its materialized network, the export
(ONNX + C), and the logits of PyTorch (fake-quantized), onnxruntime and the numpy interpreter.

Inputs whose two largest PyTorch logits are less than 2 output steps apart are left out of the
comparisons: the int8 output cannot order them (they round to one value or to neighbours), so
their argmax says nothing about the export. The pools are large enough to keep 256 inputs.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cost_models.registry import evaluate
from deploy import ExportReport, export, interpreter
from deploy.buffers import plan_buffers
from supernet import Architecture, Supernet, discretize, materialize, to_supernet
from targets.registry import get_target
from zoo.models import create_model

N_EVAL = 256
SEPARATION_STEPS = 2.0


def random_bits(rng: random.Random, options: tuple[int, ...], n: int) -> list[int]:
    """n choices among options; every option appears when n >= len(options)."""
    bits = list(options)[:n] + [rng.choice(options) for _ in range(n - len(options))]
    rng.shuffle(bits)
    return bits


def set_random_arch(net: Supernet, seed: int) -> Architecture:
    rng = random.Random(seed)
    for gates in net.gates.values():
        gates.set_choice(random_bits(rng, gates.options, gates.channels))
    for name in net.layer_names:
        act = net.layer(name).act
        if act.gates is not None:
            act.gates.set_choice([rng.choice(act.options)])
    return discretize(net)


@dataclass
class Case:
    name: str
    net: Supernet
    arch: Architecture
    small: torch.nn.Module
    x: torch.Tensor  # evaluation inputs (separated logits)
    report: ExportReport
    torch_logits: np.ndarray
    ort_logits: np.ndarray
    int_logits: np.ndarray  # interpreter, int8 grid, original class order
    manifest: dict
    arrays: dict

    @property
    def step(self) -> float:
        return self.report.output_scale

    def cost(self, name: str, target: str = "generic") -> float:
        return float(evaluate(name, self.net.layer_choices(self.arch, plan=plan_buffers), get_target(target)))


def run_onnx(path, x: torch.Tensor) -> np.ndarray:
    from deploy.onnx_model import reference_session

    session = reference_session(path)
    return session.run(None, {"input": x.numpy()})[0]


def build_case(
    name, model, pool, out_dir, seed=0, bits=(0, 2, 4, 8), act_bits=(8,), prepare=None, fold_bn=True
) -> Case:
    torch.manual_seed(seed)
    net = to_supernet(model, pool, bits=bits, act_bits=act_bits, fold_bn=fold_bn)
    arch = set_random_arch(net, seed)
    if prepare is not None:
        arch = prepare(net, arch)
    small = materialize(net, arch).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Flash warning without a target, no saturated bias
        report = export(small, pool, out_dir, formats="all", arch=arch)
    with torch.no_grad():
        ref = small(pool).numpy()
    top2 = np.sort(ref, axis=1)[:, -2:]
    keep = np.nonzero(top2[:, 1] - top2[:, 0] >= SEPARATION_STEPS * report.output_scale)[0][:N_EVAL]
    assert len(keep) == N_EVAL, f"only {len(keep)} inputs of {len(pool)} have separated logits"
    x = pool[keep]
    manifest, arrays = interpreter.load(out_dir)
    q = interpreter.run(manifest, arrays, interpreter.quantize_input(manifest, x.numpy()))
    return Case(
        name, net, arch, small, x, report, ref[keep], run_onnx(report.files["model.onnx"], x), q, manifest, arrays
    )


def small_mobilenet_v2(num_classes: int) -> nn.Module:
    """A width-0.25 torchvision MobileNetV2 with four stages (ReLU6, residual adds without ReLU, adaptive
    average pooling): every op MobileNetV2 deploys with, small enough for the emulated cores' tests."""
    import torchvision

    blocks = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2]]  # t, c, n, s
    return torchvision.models.mobilenet_v2(num_classes=num_classes, width_mult=0.25, inverted_residual_setting=blocks)


# the models the Cortex-M tests deploy (tests/deploy/test_deploy_c.py on the host, tests/deploy/firmware on the
# emulated cores): name -> (factory, input shape, calibration pool size)
CORTEX_M_MODELS = {
    "resnet8": (lambda: create_model("resnet8", 10, (3, 32, 32)), (3, 32, 32), 512),
    "dscnn": (lambda: create_model("dscnn", 12, (1, 49, 10)), (1, 49, 10), 512),
    "digits_cnn": (lambda: create_model("digits_cnn", 10, (1, 8, 8)), (1, 8, 8), 1024),
    "mobilenet_v2": (lambda: small_mobilenet_v2(10), (3, 32, 32), 512),
}


def random_mixed(name: str, arch_seed: int = 1) -> tuple[Supernet, Architecture, nn.Module, torch.Tensor]:
    """(supernet, random architecture with pruned channels and 2/4/8-bit weights, its materialized network,
    the calibration pool) of a CORTEX_M_MODELS model: the same on the host and on the emulated cores."""
    factory, shape, n = CORTEX_M_MODELS[name]
    torch.manual_seed(0)
    model = factory()
    pool = varied_images(n, shape, torch.Generator().manual_seed(0))
    net = to_supernet(model, pool, bits=(0, 2, 4, 8))
    arch = set_random_arch(net, seed=arch_seed)
    return net, arch, materialize(net, arch).eval(), pool


@dataclass
class CortexMExport:
    """A CORTEX_M_MODELS model with its random mixed architecture, exported in both flavours for a Cortex-M
    target with 2-bit weights in s4 fields, and its network computing the cmsis-nn kernels' arithmetic."""

    name: str
    net: Supernet
    arch: Architecture
    small: nn.Module
    pool: torch.Tensor
    reports: dict[str, ExportReport]  # flavour -> report
    flavour_net: nn.Module  # deploy.cmsis_torch.cmsis_network(small, pool)


def cortex_m_export(name: str, out_dir, target) -> CortexMExport:
    """random_mixed(name) exported into out_dir/<flavour> for `target` (no warning allowed)."""
    from deploy.cmsis_torch import cmsis_network

    net, arch, small, pool = random_mixed(name)
    reports = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for flavour in ("reference", "cmsis-nn"):
            reports[flavour] = export(
                small, pool, out_dir / flavour, formats="c", target=target, arch=arch, flavour=flavour
            )
    return CortexMExport(name, net, arch, small, pool, reports, cmsis_network(small, pool))


def varied_images(n: int, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Random images whose per-channel mean and contrast vary per sample, so that even a
    random-init network's global-pooled features (and predictions) depend on the input."""
    c = shape[0]
    scale = torch.exp(0.5 * torch.randn(n, c, 1, 1, generator=gen))
    return torch.randn(n, *shape, generator=gen) * scale + torch.randn(n, c, 1, 1, generator=gen)


class TinyNet(nn.Module):
    """conv-BN-ReLU-maxpool, depthwise-BN-ReLU, 1x1-BN, residual add, ReLU, avgpool 2x2, flatten
    (4 features per channel), linear, ReLU, linear: every op the exporter handles, on 2x8x8 inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu1 = nn.Conv2d(2, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.dw, self.bn2, self.relu2 = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU()
        self.pw, self.bn3, self.relu3 = nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.ReLU()
        self.pool2 = nn.AvgPool2d(2)
        self.fc1, self.relu4, self.fc2 = nn.Linear(8 * 2 * 2, 16), nn.ReLU(), nn.Linear(16, 5)
        with torch.no_grad():  # negative and zero BN scales, non-trivial running statistics
            for bn in (self.bn1, self.bn2, self.bn3):
                bn.weight.copy_(torch.tensor([1.0, -0.5, 2.0, -1.0, 0.7, 0.0, 1.3, -2.0]))
                bn.bias.uniform_(-0.3, 0.3)
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        z = self.bn3(self.pw(self.relu2(self.bn2(self.dw(y)))))
        z = self.relu3(z + y)
        return self.fc2(self.relu4(self.fc1(torch.flatten(self.pool2(z), 1))))


def tiny_pool() -> torch.Tensor:
    return varied_images(1024, (2, 8, 8), torch.Generator().manual_seed(1))


def scramble_depthwise(net: Supernet, arch: Architecture) -> Architecture:
    """Give the depthwise layer other bits than the conv it shares channels with (same keep mask):
    its precision groups cannot all be contiguous in the shared channel order."""
    bits = dict(arch.weight_bits)
    kept = [b for b in bits["conv1"] if b]
    other = iter(kept[::-1])
    bits["dw"] = tuple(next(other) if b else 0 for b in bits["conv1"])
    return Architecture(bits, dict(arch.act_bits), dict(arch.meta))
