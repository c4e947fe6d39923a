"""Sparse weight storage (bitmask + packed non-zeros): bytes == size_sparse, and an exact round trip."""

from __future__ import annotations

import json

import numpy as np
import torch

from cost_models import evaluate
from deploy import export, interpreter
from deploy.packing import pack, packed_bytes
from deploy.sparse import decode, decode_group, encode, encode_group, sparse_group_bytes
from search.methods.sparsity import masked_network, weight_counts, with_nonzeros
from supernet import Architecture, to_supernet
from targets import get_target
from zoo.models import create_model


def test_group_round_trip_and_byte_count() -> None:
    rng = np.random.default_rng(0)
    for bits in (2, 4, 8):
        w = rng.integers(-(2 ** (bits - 1) - 1), 2 ** (bits - 1), 53) * (rng.random(53) < 0.3)
        dense = pack(w, bits)
        mask, values = encode_group(dense, bits, 53)
        nnz = int((w != 0).sum())
        assert mask.nbytes == 7 and values.nbytes == packed_bytes(nnz, bits)  # ceil(53 / 8) = 7
        assert mask.nbytes + values.nbytes == sparse_group_bytes(53, nnz, bits)
        assert np.array_equal(decode_group(mask, values, bits, 53), dense)


def sparse_case(tmp_path, seed: int = 0):
    torch.manual_seed(seed)
    model = create_model("digits_cnn", 10, (1, 8, 8)).eval()
    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    net = to_supernet(model, x, bits=(0, 2, 4, 8))
    g = torch.Generator().manual_seed(seed)
    weight_bits = {}
    for name, spec in net.specs.items():
        opts = (2, 4, 8) if name == net.layer_names[-1] else (0, 2, 4, 8)
        bits = [opts[int(i)] for i in torch.randint(len(opts), (spec.out_channels,), generator=g)]
        bits[0] = bits[0] or 8
        weight_bits[name] = tuple(bits)
    arch = Architecture(weight_bits, {n: 8 for n in net.specs}, {})
    masks = {n: torch.rand(net.layer(n).weight.shape, generator=g) < 0.3 for n in net.layer_names[:-1]}
    small = masked_network(net, arch, masks).eval()
    counts = weight_counts(net, arch, small)
    choices = with_nonzeros(net.layer_choices(arch), counts)
    report = export(small, x, tmp_path, formats="c", target="generic", arch=arch, sparse=True)
    return x, choices, report


def test_sparse_export_bytes_equal_size_sparse_cost(tmp_path) -> None:
    x, choices, report = sparse_case(tmp_path)
    target = get_target("generic")
    assert report.sparse_weight_bytes == evaluate("size_sparse", choices, target).item()
    assert report.weight_bytes == evaluate("size", choices, target).item()
    assert report.sparse_weight_bytes < 0.6 * report.weight_bytes  # 70% of the weights are masked
    manifest = json.loads((tmp_path / "model_sparse.json").read_text())
    formats = [g["format"] for op in manifest["ops"] if op["op"] == "layer" for g in op["precision_groups"]]
    assert "bitmask" in formats and "dense" in formats  # the unmasked output layer stays dense
    assert (tmp_path / "model_sparse.bin").stat().st_size >= report.sparse_weight_bytes


def test_sparse_export_round_trips_through_the_interpreter(tmp_path) -> None:
    x, _, _ = sparse_case(tmp_path, seed=1)
    dense_m, dense_a = interpreter.load(tmp_path)
    sparse_m = json.loads((tmp_path / "model_sparse.json").read_text())
    raw = (tmp_path / "model_sparse.bin").read_bytes()
    sparse_a = {
        n: np.frombuffer(raw[s["offset"] : s["offset"] + s["bytes"]], dtype=s["dtype"]).copy()
        for n, s in sparse_m["arrays"].items()
    }
    assert sparse_m == encode(dense_m, dense_a)[0]
    back_m, back_a = decode(sparse_m, sparse_a)
    assert back_m["bytes"] == dense_m["bytes"] and set(back_a) == set(dense_a)
    assert all(np.array_equal(back_a[n], dense_a[n]) for n in dense_a)
    q = interpreter.quantize_input(dense_m, x.numpy())
    assert np.array_equal(interpreter.run(back_m, back_a, q), interpreter.run(dense_m, dense_a, q))
