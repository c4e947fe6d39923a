"""CIFAR-style VGG-19 / ResNet-18 / ResNet-34 (seed 000's networks): reference counts and layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from supernet import to_supernet
from zoo.models import create_model

# Trainable parameters (incl. BN) of the CIFAR reference implementations on 3x32x32, 10 classes
# (kuangliu/pytorch-cifar VGG('VGG19'), ResNet18(), ResNet34(); also the figures papers quote:
# 20.04 M, 11.17 M, 21.28 M).
REFERENCE = {"vgg19": 20_035_018, "resnet18": 11_173_962, "resnet34": 21_282_122}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_parameter_count_matches_reference(name: str) -> None:
    model = create_model(name, 10, (3, 32, 32))
    assert sum(p.numel() for p in model.parameters()) == REFERENCE[name]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_cifar_stem_has_no_max_pool_before_first_stage(name: str) -> None:
    model = create_model(name, 10, (3, 32, 32))
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.kernel_size == (3, 3) and first.stride == (1, 1)
    if name.startswith("resnet"):
        assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
        assert model.layer1(torch.zeros(1, 64, 32, 32)).shape[-1] == 32  # full resolution in stage 1


def test_resnet18_converts_to_supernet_and_keeps_its_function() -> None:
    torch.manual_seed(0)
    model = create_model("resnet18", 3, (3, 32, 32)).eval()
    x = torch.randn(4, 3, 32, 32)
    net = to_supernet(model, x, bits=(0, 8))
    assert len(net.layer_names) == 21  # 1 stem + 16 block convs + 3 shortcut convs + fc
    assert net(x).shape == (4, 3)


def test_other_input_sizes_and_channels() -> None:
    assert create_model("vgg19", 200, (3, 64, 64))(torch.zeros(1, 3, 64, 64)).shape == (1, 200)
    assert create_model("resnet34", 2, (1, 32, 32))(torch.zeros(2, 1, 32, 32)).shape == (2, 2)
