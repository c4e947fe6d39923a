"""The calibration grid: small networks whose layers cover every kernel kind the cmsis-nn flavour emits.

Each grid network is a few layers of random geometry (seeded, so the grid is the same every run) with a
random architecture per layer (all 8-bit, all 4-bit, or mixed, with or without pruned channels), so its
calls cover s8 and s4 convolutions of every shape class (KxK, 1x1, strided 1x1, few input channels as in a
first layer, Linear layers on a 1x1 image), depthwise s8 (3x3, `_opt`, dilated) and s4, partial precision
groups (scatter, gather and pad copies), adds, pools, requantization, clamps, concatenation and a
standalone BatchNorm. Families:

  chain   convs (k 1..5, stride 1..2, padding 0..k/2, 1..64 channels) with pools, then Linear layers
  dw      pointwise -> depthwise (3x3 / 5x5, stride 1..2, padding 0..2, sometimes dilated) -> pointwise
  res     a residual block (identity or strided 1x1 shortcut) around two convs, then pools
  cat     two branches concatenated, a standalone BatchNorm, ReLU6
  mlp     Linear layers only
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from supernet import Architecture, Supernet, discretize

FAMILIES = ("chain", "dw", "res", "cat", "mlp")
BITS = (0, 4, 8)


@dataclass(frozen=True)
class GridNet:
    name: str  # e.g. "chain-017"
    family: str
    in_shape: tuple[int, ...]
    build: Callable[[], nn.Module]  # a fresh float model (seeded weights)
    arch_seed: int


def _act(rng: random.Random) -> nn.Module:
    return nn.ReLU6() if rng.random() < 0.2 else nn.ReLU()


def _conv_out(size: int, k: int, stride: int, pad: int, dilation: int = 1) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def _chain(rng: random.Random) -> tuple[tuple[int, ...], list[nn.Module]]:
    c, h, w = rng.choice((1, 1, 2, 3, 3, 4, 8, 16, 24, 32)), rng.randint(4, 28), rng.randint(4, 28)
    shape, layers = (c, h, w), []
    for _ in range(rng.randint(1, 3)):
        k = rng.choice((1, 1, 3, 3, 3, 5))
        stride = rng.choice((1, 2) if k == 1 else (1, 1, 2)) if min(h, w) > 4 else 1
        pad = rng.choice((0, k // 2)) if k > 1 else 0
        if _conv_out(min(h, w), k, stride, pad) < 1:
            k, stride, pad = 1, 1, 0
        out = rng.randint(1, 48)
        layers += [nn.Conv2d(c, out, k, stride, pad), _act(rng)]
        c, h, w = out, _conv_out(h, k, stride, pad), _conv_out(w, k, stride, pad)
        if rng.random() < 0.3 and min(h, w) >= 4:
            pk = rng.choice((2, 3))
            layers.append(nn.MaxPool2d(pk, 2) if rng.random() < 0.6 else nn.AvgPool2d(pk, 2))
            h, w = _conv_out(h, pk, 2, 0), _conv_out(w, pk, 2, 0)
    if rng.random() < 0.4:
        layers.append(nn.AdaptiveAvgPool2d(1))
        h = w = 1
    layers += [nn.Flatten(), nn.Linear(c * h * w, rng.randint(2, 40)), nn.ReLU()]
    layers.append(nn.Linear(layers[-2].out_features, 10))
    return shape, layers


def _dw(rng: random.Random) -> tuple[tuple[int, ...], list[nn.Module]]:
    c, h, w = rng.choice((1, 3, 8)), rng.randint(5, 24), rng.randint(5, 24)
    shape, mid = (c, h, w), rng.randint(2, 64)
    layers: list[nn.Module] = [nn.Conv2d(c, mid, 1), _act(rng)]
    for _ in range(rng.randint(1, 3)):
        k = rng.choice((3, 3, 3, 5))
        dilation = 2 if rng.random() < 0.15 else 1
        stride = rng.choice((1, 1, 2)) if min(h, w) > 6 else 1
        pad = rng.choice((0, 1, 1, 2)) if k == 3 else rng.choice((0, 2))
        if _conv_out(min(h, w), k, stride, pad, dilation) < 2:
            stride, pad = 1, k // 2 * dilation
        out = rng.randint(2, 64)
        layers += [
            nn.Conv2d(mid, mid, k, stride, pad, dilation, groups=mid),
            _act(rng),
            nn.Conv2d(mid, out, 1),
            nn.ReLU(),
        ]
        h, w, mid = _conv_out(h, k, stride, pad, dilation), _conv_out(w, k, stride, pad, dilation), out
    return shape, [*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(mid, 10)]


class _Residual(nn.Module):
    def __init__(self, c: int, out: int, stride: int, shortcut: bool) -> None:
        super().__init__()
        self.conv1, self.relu = nn.Conv2d(c, out, 3, stride, 1), nn.ReLU()
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c, out, 1, stride) if shortcut else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.relu(self.conv1(x)))
        return self.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


def _res(rng: random.Random) -> tuple[tuple[int, ...], list[nn.Module]]:
    c, h = rng.choice((3, 8, 16)), rng.randint(6, 24)
    mid = rng.randint(4, 40)
    stride = rng.choice((1, 2))
    out = mid if stride == 1 and rng.random() < 0.5 else rng.randint(4, 40)
    shortcut = stride != 1 or out != mid
    tail: list[nn.Module] = [nn.AdaptiveAvgPool2d(1)] if rng.random() < 0.6 else [nn.MaxPool2d(2), nn.AvgPool2d(2)]
    size = _conv_out(h, 3, stride, 1)
    flat = out if isinstance(tail[0], nn.AdaptiveAvgPool2d) else out * (size // 2 // 2) ** 2
    if flat == 0:
        tail, flat = [nn.AdaptiveAvgPool2d(1)], out
    return (c, h, h), [
        nn.Conv2d(c, mid, 3, 1, 1),
        nn.ReLU(),
        _Residual(mid, out, stride, shortcut),
        *tail,
        nn.Flatten(),
        nn.Linear(flat, 10),
    ]


class _Concat(nn.Module):
    def __init__(self, c: int, a: int, b: int) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(c, a, 3, 1, 1), nn.Conv2d(c, b, 1)
        self.bn, self.act = nn.BatchNorm2d(a + b), nn.ReLU6()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(torch.cat([self.a(x), self.b(x)], 1)))


def _cat(rng: random.Random) -> tuple[tuple[int, ...], list[nn.Module]]:
    c, h = rng.choice((2, 4, 8)), rng.randint(4, 16)
    a, b = rng.randint(2, 24), rng.randint(2, 24)
    return (c, h, h), [
        nn.Conv2d(c, c, 1),
        nn.ReLU(),
        _Concat(c, a, b),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(a + b, 10),
    ]


def _mlp(rng: random.Random) -> tuple[tuple[int, ...], list[nn.Module]]:
    shape = (rng.choice((1, 2, 4)), rng.randint(2, 16), rng.randint(2, 16))
    features, layers = shape[0] * shape[1] * shape[2], [nn.Flatten()]
    for _ in range(rng.randint(1, 3)):
        out = rng.randint(2, 160)
        layers += [nn.Linear(features, out), _act(rng)]
        features = out
    return shape, [*layers, nn.Linear(features, 10)]


_BUILDERS = {"chain": _chain, "dw": _dw, "res": _res, "cat": _cat, "mlp": _mlp}
_WEIGHTS = {"chain": 3, "dw": 4, "res": 2, "cat": 1, "mlp": 1}


def grid(size: int = 120, seed: int = 0) -> list[GridNet]:
    """`size` networks, the same for the same (size, seed)."""
    rng = random.Random(seed)
    families = [f for f in FAMILIES for _ in range(_WEIGHTS[f])]
    nets = []
    for i in range(size):
        family = families[i % len(families)]
        net_seed = rng.randrange(2**31)
        shape, _ = _BUILDERS[family](random.Random(net_seed))

        def build(family: str = family, net_seed: int = net_seed) -> nn.Module:
            torch.manual_seed(net_seed)
            return nn.Sequential(*_BUILDERS[family](random.Random(net_seed))[1])

        nets.append(GridNet(f"{family}-{i:03d}", family, shape, build, net_seed + 1))
    return nets


def random_arch(net: Supernet, seed: int) -> Architecture:
    """Per gate group one pattern: all 8-bit, all 4-bit, or a random mix of 4 / 8 bits, each with pruned
    channels half of the time (where the group may be pruned)."""
    rng = random.Random(seed)
    for gates in net.weight_gates():
        pattern = rng.choice(("w8", "w4", "mixed", "mixed"))
        options = [b for b in gates.options if b > 0]
        share4 = {"w8": 0.0, "w4": 1.0}.get(pattern, rng.random())
        prune = rng.random() * 0.6 if 0 in gates.options and rng.random() < 0.5 else 0.0
        bits = []
        for _ in range(gates.channels):
            r = rng.random()
            bits.append(0 if r < prune else (4 if 4 in options and rng.random() < share4 else max(options)))
        if not any(bits):
            bits[0] = max(options)
        gates.set_choice(bits)
    return discretize(net)
