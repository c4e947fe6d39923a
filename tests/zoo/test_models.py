"""Model zoo: reference parameter/MAC counts, shapes, fx-traceability, registry errors."""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn

from zoo.data import batches, load_dataset
from zoo.models import create_model, model_names, register_model

LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear)

# (name, num_classes, in_shape): every registered model plus torchvision ones on small inputs
CASES = [
    ("resnet8", 10, (3, 32, 32)),
    ("dscnn", 12, (1, 49, 10)),
    ("digits_cnn", 10, (1, 8, 8)),
    ("quantnet", 2, (3, 32, 32)),
    ("quantnet", 3, (2, 33)),
    ("mlp", 4, (1, 8, 8)),
    ("vgg19", 10, (3, 32, 32)),
    ("resnet18", 10, (3, 32, 32)),
    ("resnet34", 10, (3, 32, 32)),
    ("tv:resnet18", 5, (3, 32, 32)),
    ("tv:resnet18", 5, (1, 32, 32)),
    ("tv:mobilenet_v2", 5, (3, 32, 32)),
]


def layer_params(model: nn.Module) -> int:
    """Weights + biases of Conv/Linear layers only (the convention of the published counts)."""
    return sum(p.numel() for m in model.modules() if isinstance(m, LAYERS) for p in m.parameters(recurse=False))


def count_macs(model: nn.Module, in_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of Conv/Linear layers for one input, via forward hooks."""
    total = 0

    def hook(m: nn.Module, inputs: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Linear):
            total += m.in_features * m.out_features
        else:
            total += out[0].numel() * (m.in_channels // m.groups) * int(torch.tensor(m.kernel_size).prod())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, LAYERS)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *in_shape))
    for h in handles:
        h.remove()
    return total


def test_resnet8_matches_mlperf_tiny_counts() -> None:
    model = create_model("resnet8", 10, (3, 32, 32))
    assert layer_params(model) == 77_706
    # hand count: stem 442,368 + stack1 4,718,592 + stack2 3,670,016 + stack3 3,670,016 + fc 640
    assert count_macs(model, (3, 32, 32)) == 12_501_632
    shortcuts = [model.stack2.shortcut, model.stack3.shortcut]
    assert all(s.kernel_size == (1, 1) and s.stride == (2, 2) and s.bias is not None for s in shortcuts)
    assert isinstance(model.stack1.shortcut, nn.Identity)


def test_dscnn_parameter_count() -> None:
    model = create_model("dscnn", 12, (1, 49, 10))
    assert layer_params(model) == 22_604
    assert sum(p.numel() for p in model.parameters()) == 23_756  # + BatchNorm affine
    assert 20_000 < sum(p.numel() for p in model.parameters()) < 26_000
    assert model.features[0](torch.zeros(1, 1, 49, 10)).shape == (1, 64, 25, 5)  # Keras 'same', stride 2


def test_quantnet_matches_seed_002() -> None:
    model = create_model("quantnet", 2, (3, 32, 32))
    # Keras summary arithmetic: 896 + 18,496 + 524,416 + 2,064 + 34; 4 bytes each is the thesis' ~2.1 MB
    assert layer_params(model) == 545_906
    assert [m.out_channels for m in (model.conv1, model.conv2)] == [32, 64]
    assert [m.out_features for m in (model.fc1, model.fc2, model.fc3)] == [128, 16, 2]


@pytest.mark.parametrize(("name", "num_classes", "in_shape"), CASES, ids=lambda c: str(c))
def test_forward_shape_and_fx_trace(name: str, num_classes: int, in_shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes, in_shape).eval()
    x = torch.randn(2, *in_shape)
    with torch.no_grad():
        y = model(x)
        traced = torch.fx.symbolic_trace(model)
        assert torch.allclose(traced(x), y)
    assert y.shape == (2, num_classes)


def test_every_registered_model_is_covered() -> None:
    assert set(model_names()) <= {name for name, _, _ in CASES}
    assert {"resnet8", "dscnn", "digits_cnn", "quantnet", "mlp"} <= set(model_names())


def test_unknown_names_fail_in_one_line() -> None:
    with pytest.raises(ValueError, match="unknown model 'nope'; known: .*resnet8") as err:
        create_model("nope", 10, (3, 32, 32))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown torchvision model 'nope'"):
        create_model("tv:nope", 10, (3, 32, 32))


def test_register_refuses_duplicates() -> None:
    with pytest.raises(KeyError):
        register_model("resnet8")(lambda num_classes, in_shape: nn.Identity())


def test_digits_cnn_learns_digits_quickly() -> None:
    torch.manual_seed(0)
    data = load_dataset("digits", seed=0)
    model = create_model("digits_cnn", data.num_classes, data.in_shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(8):
        model.train()
        for x, y in batches(data.train, 64, shuffle=True, generator=g):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        x, y = data.test.tensors()
        assert (model(x).argmax(1) == y).float().mean() > 0.95
