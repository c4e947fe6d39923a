"""MLPerf Tiny ResNet-8 (16 filters) priced from hand-written specs against published figures.

DESIGN.md: 77,706 conv/linear weights + biases and 12.5 M MACs; seed 001's plot shows uniform
w8 / w4 / w2 at ~78 / ~39 / ~20 kB.
"""

from __future__ import annotations

import pytest

from cost_models import evaluate
from supernet.spec import LayerSpec
from targets import get_target


def conv(name, cin, cout, k, size_in, size_out):
    return LayerSpec(name, "conv", cin, cout, (k, k), in_spatial=(size_in,) * 2, out_spatial=(size_out,) * 2)


RESNET8 = [
    conv("conv1", 3, 16, 3, 32, 32),
    conv("s1.a", 16, 16, 3, 32, 32),
    conv("s1.b", 16, 16, 3, 32, 32),
    conv("s2.a", 16, 32, 3, 32, 16),
    conv("s2.b", 32, 32, 3, 16, 16),
    conv("s2.short", 16, 32, 1, 32, 16),
    conv("s3.a", 32, 64, 3, 16, 8),
    conv("s3.b", 64, 64, 3, 8, 8),
    conv("s3.short", 32, 64, 1, 16, 8),
    LayerSpec("fc", "linear", 64, 10),
]


@pytest.fixture
def uniform(make_discrete):
    return lambda bits: [make_discrete(s, (0, 2, 4, 8), [bits] * s.out_channels) for s in RESNET8]


def test_resnet8_macs_weights_and_uniform_sizes(uniform):
    target = get_target("generic")
    w8 = uniform(8)
    weights = sum(s.weights_per_channel * s.out_channels for s in RESNET8)
    biases = sum(s.out_channels for s in RESNET8)
    assert weights + biases == 77_706
    assert evaluate("macs", w8, target).item() == 12_501_632  # ~12.5 M
    assert evaluate("size", w8, target).item() == weights == 77_360  # ~78 kB in seed 001's plot
    assert evaluate("size", uniform(4), target).item() == weights // 2  # ~39 kB
    assert evaluate("size", uniform(2), target).item() == weights // 4  # ~20 kB
    assert evaluate("memory", w8, target).item() == weights + 9 * biases
