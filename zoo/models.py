"""Model zoo: a name registry of small, torch.fx-traceable networks for microcontroller benchmarks.

Factories are registered with their usual input (zoo/registry.py). The supernet discovers channel
dependencies from a torch.fx trace, so the models avoid data-dependent Python control flow and
hard-coded batch sizes (``torch.flatten(x, 1)``, never ``x.view(batch, ...)``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from zoo.registry import create_model, image_shape, model_names, register_model  # noqa: F401 (documented here)


def _same_padding(size: int, kernel: int, stride: int) -> int:
    """Symmetric padding giving Keras 'same' output size ceil(size / stride).

    Keras pads asymmetrically (the extra pixel at the end); PyTorch's symmetric padding gives
    the same output shape, shifted by at most one pixel, which is irrelevant when training from scratch.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return math.ceil(total / 2)


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


# --------------------------------------------------------------------------------------- ResNet-8


class _ResidualStack(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus shortcut, add, ReLU (MLPerf Tiny ResNet-8 block).

    The downsampling shortcut is a bare 1x1 conv with bias and no BatchNorm, as in the reference.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out else nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + self.shortcut(x))


class ResNet8(nn.Module):
    """MLPerf Tiny image-classification ResNet-8 (16/32/64 filters).

    Every conv has a bias, as every Keras Conv2D in the reference does (use_bias defaults to True):
    with biases the conv/linear weights+biases total exactly 77,706 on 3x32x32 / 10 classes, the
    published figure (without the 336 conv biases it would be 77,370). About 12.5 M MACs on 32x32.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3, 1, 1)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.stack1 = _ResidualStack(width, width, 1)
        self.stack2 = _ResidualStack(width, 2 * width, 2)
        self.stack3 = _ResidualStack(2 * width, 4 * width, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn(self.conv(x)))
        x = self.stack3(self.stack2(self.stack1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


@register_model("resnet8", (3, 32, 32), 10, "fc")
def resnet8(num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    return ResNet8(num_classes, image_shape("resnet8", in_shape)[0])


# ---------------------------------------------------------------------------------------- DS-CNN


class DSCNN(nn.Module):
    """MLPerf Tiny keyword-spotting DS-CNN: conv 10x4/2, then 4 depthwise-separable blocks, avg pool, linear.

    On 1x49x10 MFCCs with 12 classes: 22,604 conv/linear weights+biases, 23,756 trainable parameters
    (with BN affine), 24,908 counting BN running statistics (Keras' "total params").
    Dropout layers of the reference are left out: they change nothing at inference and the searches
    here train for few epochs.
    """

    def __init__(self, num_classes: int, in_shape: tuple[int, int, int], filters: int = 64, blocks: int = 4) -> None:
        super().__init__()
        c, h, w = in_shape
        pad = (_same_padding(h, 10, 2), _same_padding(w, 4, 2))
        layers: list[nn.Module] = [nn.Conv2d(c, filters, (10, 4), 2, pad), nn.BatchNorm2d(filters), nn.ReLU()]
        for _ in range(blocks):
            layers += [nn.Conv2d(filters, filters, 3, 1, 1, groups=filters), nn.BatchNorm2d(filters), nn.ReLU()]
            layers += [nn.Conv2d(filters, filters, 1), nn.BatchNorm2d(filters), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(filters, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@register_model("dscnn", (1, 49, 10), 12, "fc")
def dscnn(num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    return DSCNN(num_classes, image_shape("dscnn", in_shape))


# ------------------------------------------------------------------------------------ digits CNN


class DigitsCNN(nn.Module):
    """Three conv-BN-ReLU layers (16, 32/2, 32) + global average pool + linear, for 1x8x8 digits.

    Small enough to train to >95% on scikit-learn digits in seconds on a CPU, yet with enough
    layers (including a stride) for pruning and mixed precision to matter.
    """

    def __init__(self, num_classes: int, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, 1, 1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, 1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@register_model("digits_cnn", (1, 8, 8), 10, "fc")
def digits_cnn(num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    return DigitsCNN(num_classes, image_shape("digits_cnn", in_shape)[0])


# -------------------------------------------------------------------------------------- QuantNet


class QuantNet(nn.Module):
    """Seed 002's QuantNet: 2 x (conv3x3/2 'same' + ReLU) with 32, 64 filters, dropout 0.1,
    flatten, dense 128 + ReLU, dense 16 + ReLU, dense num_classes.

    He-normal init everywhere except the output layer (Glorot normal), biases zero, as in Keras.
    The output is logits (the seed's sigmoid/softmax lives in the loss). Works on (C, H, W) with
    Conv2d and on (C, L) with Conv1d.
    """

    def __init__(self, num_classes: int, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        if len(in_shape) not in (2, 3):
            raise ValueError(f"quantnet needs in_shape (C, H, W) or (C, L), got {in_shape}")
        conv = nn.Conv2d if len(in_shape) == 3 else nn.Conv1d
        spatial = list(in_shape[1:])
        for _ in range(2):  # k=3, s=2, pad=1 gives ceil(n / 2), i.e. Keras 'same'
            spatial = [_conv_out(s, 3, 2, 1) for s in spatial]
        self.conv1 = conv(in_shape[0], 32, 3, 2, 1)
        self.relu1 = nn.ReLU()
        self.conv2 = conv(32, 64, 3, 2, 1)
        self.relu2 = nn.ReLU()
        self.dropout = nn.Dropout(0.1)
        self.fc1 = nn.Linear(64 * math.prod(spatial), 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, 16)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(16, num_classes)
        for m in (self.conv1, self.conv2, self.fc1, self.fc2):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
        nn.init.xavier_normal_(self.fc3.weight)
        nn.init.zeros_(self.fc3.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dropout(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        x = self.relu4(self.fc2(self.relu3(self.fc1(torch.flatten(x, 1)))))
        return self.fc3(x)


@register_model("quantnet", (3, 32, 32), 2, "fc3")
def quantnet(num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    return QuantNet(num_classes, in_shape)


# ------------------------------------------------------------------------------------------- MLP


@register_model("mlp", (1, 8, 8), 10, "3")
def mlp(num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    """Flatten, Linear 32, ReLU, Linear: the smallest network with a searchable hidden layer (tests)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), 32), nn.ReLU(), nn.Linear(32, num_classes))
