"""export(): formats, atomic files, the Flash warning, checks and refusals."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from export_helpers import TinyNet, run_onnx, set_random_arch, tiny_pool

from deploy import FlashOverflowWarning, export, interpreter
from supernet import Architecture, UnsupportedModelError, materialize, to_supernet
from targets.target import Target


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    x = tiny_pool()[:256]
    net = to_supernet(TinyNet(), x, bits=(0, 2, 4, 8))
    arch = set_random_arch(net, 1)
    return net, arch, materialize(net, arch).eval(), x


def _tiny_target(flash_bytes: int, **params) -> Target:
    return Target("tiny-mcu", "test", flash_bytes, 4096, 10**7, (0, 2, 4, 8), (8,), ("memory",), params=params)


def test_flash_overflow_warns_with_both_numbers(tiny, tmp_path):
    net, arch, small, x = tiny
    with pytest.warns(FlashOverflowWarning) as record:
        report = export(small, x, tmp_path, formats="c", target=_tiny_target(100))
    message = str(record[0].message)
    assert str(report.flash_bytes) in message and "100" in message and "tiny-mcu" in message
    assert report.warnings == (message,)
    assert report.flash_bytes > 100


def test_no_warning_when_it_fits(tiny, tmp_path):
    net, arch, small, x = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = export(small, x, tmp_path, formats="c", target=_tiny_target(10**6))
    assert report.warnings == ()


C_FILES = {"model.h", "model.c", "model.json", "model.bin"}


@pytest.mark.parametrize(
    ("formats", "files"),
    [
        ("onnx", {"model.onnx"}),
        ("c", C_FILES),
        ("all", C_FILES | {"model.onnx"}),
        (("c", "onnx"), C_FILES | {"model.onnx"}),
    ],
)
def test_formats_write_only_their_files_and_no_temporaries(tiny, tmp_path, formats, files):
    net, arch, small, x = tiny
    report = export(small, x, tmp_path / "out", formats=formats)
    assert set(report.files) == files
    assert {p.name for p in (tmp_path / "out").iterdir()} == files
    assert all(report.files[f].stat().st_size > 0 for f in files)


def test_unknown_format_is_refused(tiny, tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        export(tiny[2], tiny[3], tmp_path, formats="tflite")


def test_supernet_with_arch_exports_like_its_materialized_network(tiny, tmp_path):
    net, arch, small, x = tiny
    a = export(net, x, tmp_path / "a", formats="c", arch=arch)
    b = export(small, x, tmp_path / "b", formats="c")
    assert (tmp_path / "a" / "model.bin").read_bytes() == (tmp_path / "b" / "model.bin").read_bytes()
    assert a.flash_bytes == b.flash_bytes
    with pytest.raises(ValueError, match="needs the architecture"):
        export(net, x, tmp_path / "c")


def test_architecture_mismatch_is_refused(tiny, tmp_path):
    net, arch, small, x = tiny
    other = set_random_arch(net, 2)
    with pytest.raises(ValueError, match="do not match the architecture"):
        export(small, x, tmp_path, arch=other)


def test_float_layers_are_refused_with_their_name(tmp_path):
    x = tiny_pool()[:64]
    net = to_supernet(TinyNet(), x, bits=(0, 2, 4, 8), exclude=["fc2"])
    small = materialize(net, set_random_arch(net, 0)).eval()
    with pytest.raises(UnsupportedModelError, match="fc2"):
        export(small, x, tmp_path)


def test_metadata_sizes_are_not_a_target_setting():
    with pytest.raises(ValueError, match="multiplier_bytes is not a target setting"):
        _tiny_target(10**6, multiplier_bytes=2)


def test_plain_int32_bias_matches_onnxruntime(tiny, tmp_path):
    """bias_frac_bits=0 is the stock CMSIS-NN / QDQ convention: int32 bias DequantizeLinear in ONNX."""
    net, arch, small, x = tiny
    report = export(small, x, tmp_path, bias_frac_bits=0)
    manifest, arrays = interpreter.load(tmp_path)
    assert all(op["bias_frac_bits"] == 0 for op in manifest["ops"] if op["op"] == "layer")
    model = onnx.load(str(report.files["model.onnx"]))
    assert any(
        init.name.endswith("bias_q") and init.data_type == onnx.TensorProto.INT32 for init in model.graph.initializer
    )
    q = interpreter.run(manifest, arrays, interpreter.quantize_input(manifest, x.numpy()))
    ort = np.rint(run_onnx(report.files["model.onnx"], x) / report.output_scale)
    assert np.abs(q - ort).max() <= 1


def test_interpreter_refuses_float_and_out_of_range_inputs(tiny_case):
    m, a = tiny_case.manifest, tiny_case.arrays
    with pytest.raises(TypeError):
        interpreter.run(m, a, tiny_case.x.numpy())
    with pytest.raises(ValueError, match="lie in"):
        interpreter.run(m, a, np.full((1, 2, 8, 8), 1000))


def test_binary_channel_with_zero_weights_is_refused(tmp_path):
    x = tiny_pool()[:64]
    net = to_supernet(TinyNet(), x, bits=(0, 1, 2, 4, 8))  # bn1 gamma[5] = 0: folded weights of channel 5 are 0
    arch = set_random_arch(net, 0)
    bits = {n: tuple(b) for n, b in arch.weight_bits.items()}
    bits["conv1"] = tuple(1 if c == 5 else (b or 8) for c, b in enumerate(bits["conv1"]))
    keep = {n: tuple(b or 0 for b in bits["conv1"]) for n in ("dw", "pw")}  # same group: same keep mask
    bits.update({n: tuple((b or 8) if k else 0 for b, k in zip(bits[n], keep[n], strict=True)) for n in keep})
    small = materialize(net, Architecture(bits, dict(arch.act_bits))).eval()
    with pytest.raises(UnsupportedModelError, match="channel .* 1-bit weights"):
        export(small, x, tmp_path)
