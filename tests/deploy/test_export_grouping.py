"""Precision groups are contiguous channel ranges; reorderings are absorbed by the consumers."""

from __future__ import annotations

import numpy as np

from deploy.api import to_integer
from deploy.grouping import reorder
from deploy.plan import build_program


def _layers(manifest):
    return {op["name"]: op for op in manifest["ops"] if op["op"] == "layer"}


def test_groups_are_contiguous_ascending_ranges(zoo_case):
    for name, op in _layers(zoo_case.manifest).items():
        groups = op["precision_groups"]
        assert [g["bits"] for g in groups] == sorted(g["bits"] for g in groups), name
        ranges = [g["channels"] for g in groups]  # KeyError if a group were an index list
        assert ranges[0][0] == 0 and ranges[-1][1] == op["out_channels"], name
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False)), name


def test_both_branches_of_every_add_use_the_same_channel_order(resnet8_case):
    layers = _layers(resnet8_case.manifest)
    for a, b in (("conv", "stack1.conv2"), ("stack2.conv2", "stack2.shortcut"), ("stack3.conv2", "stack3.shortcut")):
        ga, gb = layers[a]["precision_groups"], layers[b]["precision_groups"]
        assert [(g["bits"], g["channels"]) for g in ga] == [(g["bits"], g["channels"]) for g in gb], (a, b)


def test_depthwise_with_other_bits_falls_back_to_index_lists(tiny_scrambled_case):
    dw = _layers(tiny_scrambled_case.manifest)["dw"]
    assert any("index" in g for g in dw["precision_groups"])
    covered = sorted(i for g in dw["precision_groups"] for i in (g.get("index") or range(*g["channels"])))
    assert covered == list(range(dw["out_channels"]))


def test_class_order_is_a_permutation(any_case):
    order = any_case.manifest["output"]["class_order"]
    assert sorted(order) == list(range(len(order)))


def test_flattened_channel_moves_its_whole_block(tiny_case):
    """fc1 reads 8 channels x (2 x 2) positions: reordering the channels moves blocks of 4 columns."""
    c = tiny_case
    im = to_integer(c.small, c.x)
    program = build_program(im.graph, im.layers, im.output)
    reordered, _, _ = reorder(program, im.graph)
    before = next(op.layer for op in program.ops if op.name == "fc1")
    after = next(op.layer for op in reordered.ops if op.name == "fc1")
    pw = next(op.layer for op in reordered.ops if op.name == "pw")
    pw_before = next(op.layer for op in program.ops if op.name == "pw")
    # recover the channel order of pw's output (fc1's input channels) from its bits
    order = np.argsort(pw_before.bits, kind="stable")
    np.testing.assert_array_equal(pw.bits, pw_before.bits[order])
    out = np.argsort(before.bits, kind="stable")
    cols = (order[:, None] * 4 + np.arange(4)).ravel()
    np.testing.assert_array_equal(after.weight, before.weight[out][:, cols])
