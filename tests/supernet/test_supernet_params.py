"""Parameter count of a materialized network: counted in the module, from the architecture, and by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from supernet import Architecture, arch_param_count, discretize, materialize, to_supernet
from supernet.fixed import FixedLayer
from zoo.models import create_model


def materialized_params(small: nn.Module) -> int:
    """Weights and biases of the conv/linear layers (FixedLayer) of a materialized network."""
    return sum(
        p.numel() for m in small.modules() if isinstance(m, FixedLayer) for p in (m.weight, m.bias) if p is not None
    )


def layer_params(model: nn.Module) -> int:
    return sum(p.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) for p in m.parameters(False))


def full_arch(net, bits: int = 8) -> Architecture:
    return Architecture({n: (bits,) * s.out_channels for n, s in net.specs.items()}, dict.fromkeys(net.specs, 8))


def test_tiny_concat_count_by_hand(tiny_model) -> None:
    model, x = tiny_model("concat")
    net = to_supernet(model, x)
    arch = Architecture(
        weight_bits={
            "left": (8, 0, 4),  # keeps 2 of 3
            "right": (0, 2, 0, 8),  # keeps 2 of 4 (no bias)
            "merge": (8, 8, 0, 0, 2),  # keeps 3 of 5, reads 2 + 2 channels
            "fc": (8, 8, 4),  # reads 3 channels x 4x4 features
        },
        act_bits={"left": 8, "right": 8, "merge": 8, "fc": 8},
    )
    # left 2 * (2 * 3 * 3) + 2 = 38; right 2 * 2 = 4; merge 3 * (4 * 3 * 3) + 3 = 111; fc 3 * (3 * 16) + 3 = 147
    expected = 38 + 4 + 111 + 147
    assert arch_param_count(net, arch) == expected
    assert materialized_params(materialize(net, arch)) == expected
    # nothing pruned: the float model's own count, 57 + 8 + 320 + 243
    assert arch_param_count(net, full_arch(net)) == 628 == layer_params(model)


def test_tiny_dscnn_count_by_hand(tiny_model) -> None:
    model, x = tiny_model("dscnn")
    net = to_supernet(model, x)
    arch = Architecture(
        {"conv": (8, 0, 0, 4, 2), "dw": (8, 0, 0, 4, 2), "pw": (2, 0, 8, 8), "fc": (8, 8, 8)},
        dict.fromkeys(("conv", "dw", "pw", "fc"), 8),
    )
    # conv 3 * 9 + 3 = 30; dw 3 * 9 + 3 = 30; pw 3 * 3 + 3 = 12; fc 3 * 3 + 3 = 12
    assert arch_param_count(net, arch) == 84
    assert materialized_params(materialize(net, arch)) == 84


@pytest.mark.parametrize(
    ("name", "classes", "in_shape", "published"),
    [("resnet8", 10, (3, 32, 32), 77_706), ("dscnn", 12, (1, 49, 10), 22_604)],
)
def test_unpruned_zoo_models_match_published_counts(
    name: str, classes: int, in_shape: tuple[int, ...], published: int, random_arch
) -> None:
    net = to_supernet(create_model(name, classes, in_shape), torch.randn(2, *in_shape))
    assert arch_param_count(net, full_arch(net)) == published
    for seed in range(3):
        random_arch(net, seed, keep_one=seed)
        arch = discretize(net)
        assert arch_param_count(net, arch) == materialized_params(materialize(net, arch)) < published
