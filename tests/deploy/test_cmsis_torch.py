"""deploy.cmsis_torch.cmsis_network: the fake-quantized network computing the cmsis-nn kernels' arithmetic is
the export bit for bit, trains the model's own parameters (straight-through), leaves the model as it was,
and refuses what it does not emulate in one line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from export_helpers import TinyNet, set_random_arch, tiny_pool
from torch import nn

from deploy import cmsis_interpreter, export, interpreter
from deploy.cmsis_torch import cmsis_network
from supernet import materialize, to_supernet
from supernet.graph import UnsupportedModelError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """TinyNet (conv, maxpool, depthwise, 1x1, residual add, avgpool, two linears) with 2/4/8-bit weights,
    pruned channels, negative and zero BatchNorm scales, exported in the cmsis-nn flavour."""
    torch.manual_seed(0)
    pool = tiny_pool()
    net = to_supernet(TinyNet(), pool, bits=(0, 2, 4, 8))
    arch = set_random_arch(net, seed=3)
    small = materialize(net, arch).eval()
    out = tmp_path_factory.mktemp("cmsis-torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2-bit weights in s4 fields: a note
        report = export(small, pool, out, formats="c", arch=arch, flavour="cmsis-nn")
    return small, pool, report


def test_the_flavour_network_is_the_export_bit_for_bit(tiny):
    small, pool, report = tiny
    manifest, arrays = interpreter.load(report.out_dir)
    expected = cmsis_interpreter.run(manifest, arrays, cmsis_interpreter.quantize_input(manifest, pool.numpy()))
    with torch.no_grad():
        got = cmsis_network(small, pool)(pool).numpy() / report.output_scale
    np.testing.assert_allclose(got, np.rint(got), atol=1e-3)  # on the int8 output grid
    np.testing.assert_array_equal(np.rint(got), expected)
    with torch.no_grad():
        plain = small(pool).numpy() / report.output_scale
    assert np.abs(plain - expected).max() > 0.5  # the float network rounds elsewhere: not the same computation


def test_it_trains_the_models_own_parameters_and_leaves_the_model_alone(tiny):
    small, pool, _ = tiny
    with torch.no_grad():
        before = small(pool[:8]).clone()
    flavour = cmsis_network(small, pool).train()
    assert {id(p) for p in flavour.parameters()} == {id(p) for p in small.parameters()}
    small.zero_grad()
    flavour(pool[:8]).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in small.named_parameters() if "weight" in n)
    small.zero_grad()
    small.eval()
    with torch.no_grad():
        torch.testing.assert_close(small(pool[:8]), before)


def test_ops_it_does_not_emulate_are_refused_in_one_line():
    class Concat(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.fc = nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(1, 2, 3, padding=1), nn.Linear(256, 3)

        def forward(self, x):
            return self.fc(torch.flatten(torch.cat([self.a(x), self.b(x)], 1), 1))

    x = torch.randn(16, 1, 8, 8)
    net = to_supernet(Concat(), x, bits=(8,))
    small = materialize(net, set_random_arch(net, seed=0)).eval()
    with pytest.raises(UnsupportedModelError, match="does not emulate concat"):
        cmsis_network(small, x)
