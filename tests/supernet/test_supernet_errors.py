"""Models the supernet cannot follow are refused with one clear line naming what and where."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from supernet import UnsupportedModelError, to_supernet

X = torch.randn(2, 3, 8, 8)


class Head(nn.Module):
    """conv -> <middle> -> conv -> pool -> fc, so that <middle> sits on a searched tensor."""

    def __init__(self, middle: nn.Module | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.middle = middle if middle is not None else nn.Identity()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.middle(torch.relu(self.conv(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


class Transpose(nn.Module):
    """A user module that goes channels-last and back: fx traces into it and meets `permute` on searched
    channels (a spatial-only permute would be followed)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ChannelMean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(1, keepdim=True)  # every channel depends on all the others


@pytest.mark.parametrize(
    ("middle", "words"),
    [
        (nn.GroupNorm(2, 4), ["'middle'", "GroupNorm"]),  # a torch module that mixes channels
        (nn.Softmax(dim=1), ["'middle'", "Softmax"]),
        (Transpose(), ["'permute'", "node 'permute'", "module 'middle' (Transpose)"]),
        (ChannelMean(), ["'mean'", "node 'mean'", "module 'middle' (ChannelMean)"]),
    ],
    ids=["groupnorm", "softmax", "permute", "channel-mean"],
)
def test_unsupported_op_on_searched_channels_names_node_and_type(middle: nn.Module, words: list[str]) -> None:
    """strict=True refuses; by default the producer keeps its channels and the report gives the same reason."""
    with pytest.raises(UnsupportedModelError) as err:
        to_supernet(Head(middle), X, strict=True)
    message = str(err.value)
    assert "\n" not in message and "strict=False" in message
    for word in words:
        assert word in message
    net = to_supernet(Head(middle), X)
    assert [r["layer"] for r in net.report()] == ["conv"]
    assert all(word in net.report()[0]["reason"] for word in words)
    assert 0 not in net.layer("conv").gates.options and net.layer("conv").gates.options == (2, 4, 8)
    assert 0 in net.layer("conv2").gates.options  # only the layer whose channels reach the op loses pruning
    assert net(X).shape == (2, 2)


def test_unsupported_op_is_fine_on_unsearched_tensors() -> None:
    """Excluding the producer leaves the tensor unsearched: then the op may do what it likes."""
    net = to_supernet(Head(Transpose()), X, exclude=["conv"])
    assert net.layer_names == ["conv2", "fc"]
    assert net(X).shape == (2, 2)


class SharedConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.body = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.body(torch.relu(self.body(torch.relu(self.conv(x))))))  # one module, two calls
        return self.fc(x.mean((2, 3)))


def test_a_layer_called_twice_is_refused() -> None:
    """Its two calls would need two sets of channels and bits (materialize used to crash with a KeyError)."""
    with pytest.raises(UnsupportedModelError, match=r"layer 'body' \(Conv2d\) is called more than once"):
        to_supernet(SharedConv(), X)
    assert to_supernet(SharedConv(), X, exclude=["body"]).layer_names == ["conv", "fc"]


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            return self.conv(x)
        return -self.conv(x)


def test_untraceable_model_names_the_model_class() -> None:
    with pytest.raises(UnsupportedModelError, match=r"cannot trace Branchy with torch\.fx") as err:
        to_supernet(Branchy(), X)
    assert "\n" not in str(err.value) and "control flow" in str(err.value)


def test_model_without_searchable_layers() -> None:
    with pytest.raises(UnsupportedModelError, match="Sequential has no Conv1d/Conv2d/Conv3d/Linear"):
        to_supernet(nn.Sequential(nn.ReLU(), nn.Flatten()), X)


def test_bad_conversion_options() -> None:
    model = Head()
    with pytest.raises(ValueError, match="cannot prune: drop 0 from bits"):
        to_supernet(model, X, bits=(0, 4, 8), granularity="layer")
    with pytest.raises(ValueError, match="granularity must be"):
        to_supernet(model, X, granularity="tensor")
    with pytest.raises(ValueError, match="non-zero bit-width"):
        to_supernet(model, X, bits=(0,))
    reflect = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), nn.Flatten(), nn.Linear(256, 2))
    with pytest.raises(UnsupportedModelError, match=r"layer '0' \(Conv2d\) uses padding_mode='reflect'"):
        to_supernet(reflect, X)
    assert to_supernet(reflect, X, exclude=["0"]).layer_names == ["2"]
