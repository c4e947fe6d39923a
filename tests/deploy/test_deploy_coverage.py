"""Ops beyond the zoo's: ReLU6 / Hardtanh / clamp, ceil_mode and functional pooling, channel concat export
exactly in both flavours; Hardswish / SiLU, other concats, codebook layers and padded average pooling
(cmsis-nn) are refused in one line, before any file is written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from c_build import CMSIS, CORTEX_M_2IN4, build_model, needs_cc, needs_cmsis, run_model
from export_helpers import set_random_arch, varied_images
from torch import nn

from deploy import cmsis_interpreter, export, interpreter
from search.methods.clustering import cluster_network
from supernet import UnsupportedModelError, materialize, to_supernet


class ClampNet(nn.Module):
    """conv-BN-ReLU6, 3x3/2 max pool with ceil_mode (8x8 -> 4x4: partial windows), conv-Hardtanh(-1, 2),
    conv, F.hardtanh(0, 3), functional adaptive average pool, flatten, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.bn1, self.act1 = nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU6()
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.c2, self.act2 = nn.Conv2d(6, 6, 3, padding=1), nn.Hardtanh(-1.0, 2.0)
        self.c3 = nn.Conv2d(6, 8, 1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.act1(self.bn1(self.c1(x))))
        y = F.hardtanh(self.c3(self.act2(self.c2(y))), 0.0, 3.0)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


@pytest.fixture(scope="module")
def clamp_exports(tmp_path_factory):
    torch.manual_seed(0)
    pool = varied_images(512, (2, 8, 8), torch.Generator().manual_seed(3)) * 3
    net = to_supernet(ClampNet(), pool, bits=(0, 2, 4, 8))
    arch = set_random_arch(net, seed=2)
    small = materialize(net, arch).eval()
    out = tmp_path_factory.mktemp("clamp")
    reports = {
        f: export(small, pool, out / f, formats="all", target=CORTEX_M_2IN4, arch=arch, flavour=f)
        for f in ("reference", "cmsis-nn")
    }
    with torch.no_grad():
        logits = small(pool).numpy()
    return small, pool, logits, reports


def test_ceil_mode_pool_keeps_its_partial_windows(clamp_exports):
    _, _, _, reports = clamp_exports
    manifest, _ = interpreter.load(reports["reference"].out_dir)
    pool = next(op for op in manifest["ops"] if op["op"] == "maxpool")
    assert pool["pads"] == [0, 0, 1, 1]  # 4 windows of 3 with stride 2 need 9 > 8 rows and columns


def test_clamps_match_pytorch_in_both_flavours(clamp_exports):
    small, pool, logits, reports = clamp_exports
    step = reports["reference"].output_scale
    manifest, arrays = interpreter.load(reports["reference"].out_dir)
    q = interpreter.run(manifest, arrays, interpreter.quantize_input(manifest, pool.numpy()))
    assert np.abs(q * step - logits).max() <= 1.5 * step
    manifest, arrays = interpreter.load(reports["cmsis-nn"].out_dir)
    q = cmsis_interpreter.run(manifest, arrays, cmsis_interpreter.quantize_input(manifest, pool.numpy()))
    assert np.abs(q * step - logits).mean() <= 1.0 * step
    assert float((q.argmax(1) == logits.argmax(1)).mean()) >= 0.95


@needs_cc
def test_clamp_net_reference_c_is_bit_exact(clamp_exports):
    _, pool, _, reports = clamp_exports
    manifest, arrays = interpreter.load(reports["reference"].out_dir)
    q = interpreter.quantize_input(manifest, pool[:32].numpy())
    zero_point = -128 if manifest["input"]["hi"] > 127 else 0
    got = run_model(build_model(reports["reference"].out_dir), (q + zero_point).reshape(len(q), -1))
    np.testing.assert_array_equal(got, interpreter.run(manifest, arrays, q)[:, manifest["output"]["class_order"]])


@needs_cc
@needs_cmsis
def test_clamp_net_cmsis_c_is_bit_exact(clamp_exports, cmsis_lib):
    _, pool, _, reports = clamp_exports
    manifest, arrays = interpreter.load(reports["cmsis-nn"].out_dir)
    x = cmsis_interpreter.quantize_input(manifest, pool[:32].numpy())
    got = run_model(build_model(reports["cmsis-nn"].out_dir, CMSIS, cmsis_lib), x.reshape(len(x), -1))
    np.testing.assert_array_equal(got, cmsis_interpreter.run(manifest, arrays, x, deployed_order=True))


class Smooth(nn.Module):
    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.conv, self.act, self.fc = nn.Conv2d(2, 4, 3), act, nn.Linear(4 * 5 * 5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.act(self.conv(x)), 1))


class Concat(nn.Module):
    """Concatenation along the width: refused (only channel concat is exported)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.fc = nn.Conv2d(2, 3, 3), nn.Conv2d(2, 3, 3), nn.Linear(3 * 5 * 10, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], 3), 1))


class PaddedAvg(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.pool, self.fc = nn.Conv2d(2, 4, 3, padding=1), nn.AvgPool2d(3, 2, padding=1), nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(F.relu(self.conv(x))), 1))


def _small(model: nn.Module, pool: torch.Tensor):
    net = to_supernet(model, pool, bits=(0, 4, 8))
    return materialize(net, set_random_arch(net, seed=0)).eval()


@pytest.mark.parametrize(
    ("model", "flavour", "words"),
    [
        (Smooth(nn.Hardswish()), "reference", ("Hardswish", "ReLU6")),
        (Smooth(nn.SiLU()), "cmsis-nn", ("SiLU", "ReLU6")),
        (Concat(), "reference", ("cat", "dim=1")),
        (PaddedAvg(), "cmsis-nn", ("arm_avgpool_s8", "count_include_pad")),
    ],
)
def test_unsupported_ops_are_refused_in_one_line(model, flavour, words, tmp_path):
    pool = torch.randn(64, 2, 7, 7, generator=torch.Generator().manual_seed(0))
    try:
        small = _small(model, pool)
    except UnsupportedModelError as exc:  # the supernet may refuse first; then that line must name the op
        small, message = None, str(exc)
    if small is not None:
        with pytest.raises(UnsupportedModelError) as info:
            export(small, pool, tmp_path / "out", formats="c", flavour=flavour)
        message = str(info.value)
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert len(message.splitlines()) == 1 and words[0] in message, message


def test_codebook_layers_are_refused_not_requantized(tmp_path):
    pool = torch.randn(64, 2, 7, 7, generator=torch.Generator().manual_seed(0))
    small = cluster_network(_small(Smooth(nn.ReLU()), pool), {"conv": False}, clusters=4, codebook_bits=8, seed=0)
    with pytest.raises(UnsupportedModelError, match="codebook") as info:
        export(small, pool, tmp_path / "out", formats="c")
    assert len(str(info.value).splitlines()) == 1


@pytest.fixture
def concat_exports(tiny_model, tmp_path_factory):
    """tests/conftest.py's TinyConcat: two branches (conv-BN-ReLU, 1x1 conv-ReLU) concatenated into a conv."""
    model, _ = tiny_model("concat")
    pool = varied_images(512, (2, 8, 8), torch.Generator().manual_seed(0))
    net = to_supernet(model, pool, bits=(0, 2, 4, 8))
    arch = set_random_arch(net, seed=1)
    small = materialize(net, arch).eval()
    out = tmp_path_factory.mktemp("concat")
    reports = {
        f: export(small, pool, out / f, formats="c", target=CORTEX_M_2IN4, arch=arch, flavour=f)
        for f in ("reference", "cmsis-nn")
    }
    with torch.no_grad():
        return pool, small(pool).numpy(), reports


@needs_cc
@needs_cmsis
def test_channel_concat_matches_pytorch_and_its_c(concat_exports, cmsis_lib):
    pool, logits, reports = concat_exports
    step = reports["reference"].output_scale
    manifest, arrays = interpreter.load(reports["reference"].out_dir)
    assert any(op["op"] == "concat" for op in manifest["ops"])
    q = interpreter.run(manifest, arrays, interpreter.quantize_input(manifest, pool.numpy()))
    assert np.abs(q * step - logits).max() <= 1.5 * step
    cm, ca = interpreter.load(reports["cmsis-nn"].out_dir)
    x = cmsis_interpreter.quantize_input(cm, pool.numpy())
    assert np.abs(cmsis_interpreter.run(cm, ca, x) * step - logits).mean() <= 1.0 * step
    got = run_model(build_model(reports["cmsis-nn"].out_dir, CMSIS, cmsis_lib), x[:32].reshape(32, -1))
    np.testing.assert_array_equal(got, cmsis_interpreter.run(cm, ca, x[:32], deployed_order=True))


class TinyDense(nn.Module):
    """DenseNet in miniature: pre-activation BatchNorms that follow a concat (standalone, not foldable)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(2, 6, 3, padding=1)
        self.norm1, self.conv1 = nn.BatchNorm2d(6), nn.Conv2d(6, 4, 3, padding=1)
        self.norm2, self.conv2 = nn.BatchNorm2d(10), nn.Conv2d(10, 6, 1)
        self.fc = nn.Linear(6, 3)
        with torch.no_grad():
            for bn in (self.norm1, self.norm2):
                bn.weight.uniform_(-1.5, 1.5)  # negative scales too
                bn.bias.uniform_(-0.5, 0.5)
                bn.running_mean.uniform_(-0.3, 0.3)
                bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv0(x)
        x = torch.cat([x, self.conv1(F.relu(self.norm1(x)))], 1)
        x = self.conv2(F.relu(self.norm2(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(F.relu(x), 1), 1))


@needs_cc
@needs_cmsis
def test_standalone_batchnorm_exports_in_both_flavours(tmp_path, cmsis_lib):
    from export_helpers import run_onnx

    torch.manual_seed(0)
    pool = varied_images(512, (2, 8, 8), torch.Generator().manual_seed(4))
    net = to_supernet(TinyDense().eval(), pool, bits=(0, 2, 4, 8))
    arch = set_random_arch(net, seed=1)
    small = materialize(net, arch).eval()
    with torch.no_grad():
        logits = small(pool).numpy()
    ref = export(small, pool, tmp_path / "ref", formats="all", target=CORTEX_M_2IN4, arch=arch)
    cms = export(small, pool, tmp_path / "cmsis", formats="c", target=CORTEX_M_2IN4, arch=arch, flavour="cmsis-nn")
    step = ref.output_scale
    np.testing.assert_allclose(run_onnx(ref.files["model.onnx"], pool), logits, atol=0.75 * step)
    manifest, arrays = interpreter.load(ref.out_dir)
    assert sum(op["op"] == "affine" for op in manifest["ops"]) == 2
    q = interpreter.run(manifest, arrays, interpreter.quantize_input(manifest, pool.numpy()))
    assert np.abs(q * step - logits).max() <= 1.5 * step
    zero_point = -128 if manifest["input"]["hi"] > 127 else 0
    qi = interpreter.quantize_input(manifest, pool[:16].numpy())
    got = run_model(build_model(ref.out_dir), (qi + zero_point).reshape(16, -1))
    np.testing.assert_array_equal(got, interpreter.run(manifest, arrays, qi)[:, manifest["output"]["class_order"]])
    cm, ca = interpreter.load(cms.out_dir)
    x = cmsis_interpreter.quantize_input(cm, pool.numpy())
    assert np.abs(cmsis_interpreter.run(cm, ca, x) * step - logits).mean() <= 1.0 * step
    got = run_model(build_model(cms.out_dir, CMSIS, cmsis_lib), x[:32].reshape(32, -1))
    np.testing.assert_array_equal(got, cmsis_interpreter.run(cm, ca, x[:32], deployed_order=True))
