"""Torchvision classification models as ``tv:<name>``, built with ``weights=None`` (never downloaded)."""

from __future__ import annotations

from torch import nn


def torchvision_model(name: str, num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    """torchvision.models.<name>(weights=None, num_classes=...), first conv adapted to in_shape[0] channels."""
    from torchvision import models as tvm

    known = tvm.list_models(module=tvm)  # classification models only
    if name not in known:
        raise ValueError(f"unknown torchvision model {name!r}; known: {', '.join(known)}")
    model = tvm.get_model(name, weights=None, num_classes=num_classes)
    if in_shape and in_shape[0] != 3:
        _replace_first_conv(model, in_shape[0])
    return model


def _replace_first_conv(model: nn.Module, in_channels: int) -> None:
    """Swap the stem conv for one with ``in_channels`` inputs (torchvision models assume RGB)."""
    for path, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.in_channels == 3 and m.groups == 1:
            new = nn.Conv2d(
                in_channels,
                m.out_channels,
                m.kernel_size,
                m.stride,
                m.padding,
                m.dilation,
                bias=m.bias is not None,
                padding_mode=m.padding_mode,
            )
            parent_path, _, attr = path.rpartition(".")
            setattr(model.get_submodule(parent_path) if parent_path else model, attr, new)
            return
    raise ValueError(f"cannot adapt {type(model).__name__} to {in_channels} input channels: no 3-channel Conv2d")
