"""CIFAR-style VGG-19, ResNet-18 and ResNet-34: the networks seed 000 trains on CIFAR-10.

Unlike torchvision's ImageNet models (7x7/2 stem + max pool, which leave a 1x1 map after the first
stage on 32x32 inputs), these start with one 3x3/1 conv and no max pool, the layout of the widely
used CIFAR reference implementations (kuangliu/pytorch-cifar; He et al. 2016 section 4.2 for the
3x3 stem). Convs have no bias (a BatchNorm follows each), shortcuts are 1x1 conv + BN where the
shape changes. Reference counts on 3x32x32 / 10 classes, all trainable parameters including BN:
VGG-19 20,035,018; ResNet-18 11,173,962; ResNet-34 21,282,122 (tests/search/test_models_cifar.py).

Global average pooling before the classifier makes them work on any input size (Tiny ImageNet's
64x64 too); on 32x32 it changes nothing (the map is 1x1 for VGG, 4x4 for ResNet, as in the reference).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.registry import image_shape, register_model

VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


class VGG(nn.Module):
    """conv3x3-BN-ReLU stacks separated by 2x2 max pools, global average pool, one linear classifier."""

    def __init__(self, cfg: tuple[int | str, ...], num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, int(v), 3, 1, 1, bias=False), nn.BatchNorm2d(int(v)), nn.ReLU()]
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN (ReLU between), shortcut (1x1 conv + BN when the shape changes), add, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + self.shortcut(x))


class CifarResNet(nn.Module):
    """3x3/1 stem (64 filters) + BN + ReLU, four stages (64, 128, 256, 512; stride 2 from stage 2), GAP, linear."""

    def __init__(self, blocks: tuple[int, int, int, int], num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        stages, c = [], 64
        for i, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
            layers = []
            for j in range(n):
                layers.append(BasicBlock(c, width, 2 if (i > 0 and j == 0) else 1))
                c = width
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


@register_model("vgg19", (3, 32, 32), 10, "classifier")
def vgg19(num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    return VGG(VGG19_CFG, num_classes, image_shape("vgg19", in_shape)[0])


@register_model("resnet18", (3, 32, 32), 10, "fc")
def resnet18(num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    return CifarResNet((2, 2, 2, 2), num_classes, image_shape("resnet18", in_shape)[0])


@register_model("resnet34", (3, 32, 32), 10, "fc")
def resnet34(num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    return CifarResNet((3, 4, 6, 3), num_classes, image_shape("resnet34", in_shape)[0])
