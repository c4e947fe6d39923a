"""The cmsis-nn plan a run's final costs and `bitgate verify` price is the plan of the network as exported:
where it requantizes depends on the value ranges the export calibrates, which come from the fine-tuned
weights, not from the supernet's (a ResNet-8 search for stm32l4 once priced two requantizations fewer than
its export ran)."""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from collections import Counter

import torch

from cost_models import evaluate
from deploy import export
from deploy.buffers import plan_buffers, price_as_exported
from targets import get_target


def _glue_kinds(choices) -> Counter:
    return Counter(op.kind for op in choices.deploy_plan("cmsis-nn").ops if op.kind != "network")


def test_plan_follows_the_fine_tuned_ranges(resnet8_case, tmp_path):
    net, small = copy.deepcopy(resnet8_case.net), copy.deepcopy(resnet8_case.small)
    with torch.no_grad():  # fine-tuning grew tensors that feed an add: their range outgrows the next layer's grid
        for name in ("conv", "stack2.conv2"):
            layer = small.get_submodule(name)
            layer.weight.mul_(6.0)
            layer.bias.mul_(6.0)
    target = dataclasses.replace(get_target("stm32l4"), weight_bits=(0, 2, 4, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2-bit weights in s4 fields: a note, not this test's
        report = export(small, resnet8_case.x, tmp_path, formats="c", target=target, arch=resnet8_case.arch)
    manifest = json.loads(next(tmp_path.rglob("model.json")).read_text())
    exported = Counter(op["op"] for op in manifest["ops"] if op["op"] != "conv")
    before = _glue_kinds(net.layer_choices(resnet8_case.arch, plan=plan_buffers))
    assert before != exported  # the supernet's own weights and inputs plan another set of conversions
    assert price_as_exported(net, small, resnet8_case.x)
    after = net.layer_choices(resnet8_case.arch, plan=plan_buffers)
    assert _glue_kinds(after) == exported
    assert evaluate("peak_activation_ram", after, target).item() == report.ram["ram_bytes"]
