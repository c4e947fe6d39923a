"""The model registry: a name, a factory and what a user needs to know to build it.

Every factory has the signature ``fn(num_classes, in_shape) -> nn.Module`` where ``in_shape`` is the
input shape without the batch dimension, (C, H, W) or (C, L). A model is registered together with
the input shape and class count of the data set it is usually trained on and the module path of its
classifier (timm's ``@register_model`` + pretrained config, in spirit), so commands such as
``bitgate cost --model resnet8`` need no shape from the user.

Torchvision classification models are reachable as ``"tv:<name>"`` (built with ``weights=None``;
nothing is ever downloaded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

ModelFn = Callable[[int, tuple[int, ...]], nn.Module]
TV_PREFIX = "tv:"


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its factory and its usual input (shape without batch, classes)."""

    name: str
    fn: ModelFn
    input_shape: tuple[int, ...] | None = None  # the usual input, e.g. (3, 32, 32); None: any
    classes: int | None = None  # the usual class count
    classifier: str = ""  # module path of the last (output) layer


MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str, input_shape: tuple[int, ...] | None = None, classes: int | None = None, classifier: str = ""
) -> Callable[[ModelFn], ModelFn]:
    """Register a factory ``fn(num_classes, in_shape)`` under ``name`` with its usual input."""

    def deco(fn: ModelFn) -> ModelFn:
        if name in MODELS or name.startswith(TV_PREFIX):
            raise KeyError(f"model {name!r} already registered or uses the reserved prefix {TV_PREFIX!r}")
        shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
        MODELS[name] = ModelEntry(name, fn, shape, classes, classifier)
        return fn

    return deco


def model_names() -> list[str]:
    """Registered zoo names (torchvision models are extra, as ``tv:<name>``)."""
    return sorted(MODELS)


def model_entry(name: str) -> ModelEntry | None:
    """The registry record of a zoo model (None for torchvision and unknown names)."""
    return MODELS.get(name)


def create_model(name: str, num_classes: int, in_shape: tuple[int, ...]) -> nn.Module:
    """Build model ``name`` for ``num_classes`` outputs and inputs of shape ``in_shape`` (no batch dim)."""
    in_shape = tuple(int(s) for s in in_shape)
    if name.startswith(TV_PREFIX):
        from zoo.torchvision_models import torchvision_model

        return torchvision_model(name[len(TV_PREFIX) :], num_classes, in_shape)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(model_names())}, or tv:<torchvision model>")
    return MODELS[name].fn(int(num_classes), in_shape)


def image_shape(name: str, in_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """in_shape as (C, H, W), or one line saying that `name` needs an image input."""
    if len(in_shape) != 3:
        raise ValueError(f"{name} needs in_shape (C, H, W), got {in_shape}")
    return in_shape  # type: ignore[return-value]
