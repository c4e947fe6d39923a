"""peak_activation_ram on the exporter's plan == the RAM the exported model.c allocates, per flavour
(and, for the reference flavour, == the peak the interpreter actually held)."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from cost_models import evaluate
from cost_models.activation_ram import layer_buffers
from deploy import export, interpreter
from deploy.buffers import plan_buffers
from targets import get_target


def with_storage(mode: str):
    t = get_target("generic")
    return dataclasses.replace(t, params={**t.params, "activation_storage": mode})


CASES = ["resnet8_case", "dscnn_case", "tiny_case", "quantnet1d_case", "resnet8_subbyte_case"]


@pytest.mark.parametrize("mode", ["byte", "packed"])
@pytest.mark.parametrize("case_name", CASES)
def test_predicted_peak_equals_interpreter_peak(request, case_name, mode):
    c = request.getfixturevalue(case_name)
    manifest = {**c.manifest, "activation_storage": mode}
    x = interpreter.quantize_input(manifest, c.x[:1].numpy())
    measured = interpreter.peak_ram(manifest, c.arrays, x)
    choices = c.net.layer_choices(c.arch, plan=plan_buffers)
    assert choices.deploy_plan("reference") is not None
    aligned = -(-measured // 4) * 4  # buffers are placed at 4-byte boundaries
    assert measured <= evaluate("peak_activation_ram", choices, with_storage(mode)).item() <= aligned + 4 * 8


@pytest.mark.parametrize("flavour", ["reference", "cmsis-nn"])
@pytest.mark.parametrize("mode", ["byte", "packed"])
@pytest.mark.parametrize("case_name", CASES)
def test_predicted_ram_is_what_model_c_allocates(request, case_name, mode, flavour, tmp_path):
    c = request.getfixturevalue(case_name)
    target = dataclasses.replace(with_storage(mode), flavour=flavour)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cmsis-nn stores 2-bit weights in s4 fields: a note, not this test's
        report = export(c.small, c.x, tmp_path, formats="c", target=target, arch=c.arch)
    assert report.flavour == flavour
    predicted = evaluate("peak_activation_ram", c.net.layer_choices(c.arch, plan=plan_buffers), target).item()
    assert predicted == report.ram["ram_bytes"]


def test_resnet8_peak_counts_live_branches_and_int32_tensors(resnet8_case):
    """The layer-by-layer pair (input + output of one layer, int8) misses the residual branch and
    the int32 tensors at the adds: the planned peak is larger."""
    choices = resnet8_case.net.layer_choices(resnet8_case.arch, plan=plan_buffers)
    pair = max(float(sum(layer_buffers(ch, "byte"))) for ch in choices)
    assert evaluate("peak_activation_ram", choices, with_storage("byte")).item() > pair
    assert any(b.bits == 32 and b.bits_from is None for b in choices.deploy_plan("reference").buffers)


def test_hand_computed_chain(tmp_path):
    """conv 1->2 (3x3) -> ReLU -> conv 2->3 (1x1) -> flatten -> linear 48->2 on a 1x4x4 input.

    Buffers: input 16 values, conv1 output 32, conv2 output 48 (flatten views it), logits 2 (int8).
    8-bit, one byte per value: op conv1 holds 16 + 32 = 48, op conv2 32 + 48 = 80, the linear
    48 + 2 = 50 -> 80. conv2 reading 4-bit packed activations: conv1's output is 16 bytes, so
    conv1 holds 16 + 16 = 32 and conv2 16 + 48 = 64 -> 64.
    """
    import torch
    from torch import nn

    from deploy import export
    from supernet import Architecture, materialize, to_supernet

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 3, 1), nn.Flatten(), nn.Linear(48, 2))
    x = torch.randn(64, 1, 4, 4)
    net = to_supernet(model, x, bits=(0, 8), act_bits=(4, 8))
    channels = {n: s.out_channels for n, s in net.specs.items()}
    for conv2_bits, mode, expected in ((8, "byte", 80), (4, "packed", 64)):
        uniform = Architecture.uniform(channels, 8, 8)
        arch = Architecture(uniform.weight_bits, {**uniform.act_bits, "2": conv2_bits}, {})
        choices = net.layer_choices(arch, plan=plan_buffers)
        predicted = evaluate("peak_activation_ram", choices, with_storage(mode)).item()
        out = tmp_path / f"{conv2_bits}"
        export(materialize(net, arch).eval(), x, out, formats="c", arch=arch)
        manifest, arrays = interpreter.load(out)
        manifest["activation_storage"] = mode
        measured = interpreter.peak_ram(manifest, arrays, interpreter.quantize_input(manifest, x[:1].numpy()))
        assert predicted == measured == expected
