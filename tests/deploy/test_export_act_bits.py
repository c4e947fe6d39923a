"""Searched (per-layer, sub-byte) activation bits survive the export: agreement and recorded bits."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest

SUBBYTE = ["resnet8_subbyte_case", "tiny_subbyte_case"]


@pytest.fixture(params=SUBBYTE)
def subbyte_case(request):
    return request.getfixturevalue(request.param)


def test_architecture_mixes_2_and_4_bit_activations(subbyte_case):
    assert set(subbyte_case.arch.act_bits.values()) == {2, 4}


def test_onnxruntime_matches_pytorch(subbyte_case):
    c = subbyte_case
    agree = float((c.ort_logits.argmax(1) == c.torch_logits.argmax(1)).mean())
    assert agree >= 0.99, f"{c.name}: argmax agreement {agree:.3f}"
    assert float(np.abs(c.ort_logits - c.torch_logits).max()) / c.step <= 1.0


def test_interpreter_matches_onnxruntime_within_one_lsb(subbyte_case):
    c = subbyte_case
    diff = np.abs(c.int_logits.astype(np.int64) - np.rint(c.ort_logits / c.step).astype(np.int64))
    assert diff.max() <= 1
    assert float((diff == 0).mean()) >= 0.95


def test_every_file_carries_each_layers_activation_bits(subbyte_case):
    c = subbyte_case
    layers = {op["name"]: op for op in c.manifest["ops"] if op["op"] == "layer"}
    tensors = c.manifest["tensors"]
    for name, bits in c.arch.act_bits.items():
        assert layers[name]["input_bits"] == bits
        grid = tensors[layers[name]["inputs"][0]]
        assert grid["bits"] == bits and grid["hi"] <= 2**bits - 1
    model = onnx.load(str(c.report.files["model.onnx"]))
    props = {p.key: p.value for p in model.metadata_props}
    recorded = json.loads(props["bitgate.activation_bits"])
    assert {k: v for k, v in recorded.items() if k != "output"} == c.arch.act_bits
    header = c.report.files["model.h"].read_text()
    for name, bits in c.arch.act_bits.items():
        tag = re.sub(r"\W", "_", layers[name]["bias"][: -len("_bias")]).upper()
        assert f"#define BG_{tag}_IN_BITS {bits}\n" in header
    quantizers = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert {n.doc_string.split("-bit")[0] for n in quantizers} >= {"2", "4"}
