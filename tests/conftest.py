"""Shared fixtures: tiny seeded models (a few channels, 8x8 inputs) and a helper that points a
supernet's gates at a random architecture.

    def test_x(tiny_model, random_arch):
        model, x = tiny_model("resnet")
        net = to_supernet(model, x)
        bits = random_arch(net, seed=0)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Iterator[None]:
    """The whole suite uses tiny tensors: intra-op threads buy nothing, and on a 2-core machine shared
    with other jobs OpenMP threads waiting for each other made tiny steps 10-100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def one_epoch_config(out_dir, **settings):
    """digits_cnn on synthetic 1x8x8 data, one epoch per phase, no progress bars: the smallest real run."""
    from search.config import SearchConfig

    base = dict(
        model="digits_cnn",
        dataset="synthetic",
        target="generic",
        cost="size",
        warmup_epochs=1,
        search_epochs=1,
        finetune_epochs=1,
        batch_size=64,
        out_dir=str(out_dir),
        progress=False,
    )
    return SearchConfig(**{**base, **settings})


@pytest.fixture
def one_epoch_cfg() -> Callable:
    """`one_epoch_config` as a fixture: one_epoch_cfg(out_dir, method="uniform", ...)."""
    return one_epoch_config


@pytest.fixture
def tiny_cfg(tmp_path):
    """Tiny end-to-end settings: a few epochs, a strength that moves the gates on synthetic data."""
    return one_epoch_config(tmp_path / "runs", warmup_epochs=2, search_epochs=3, arch_lr=0.02, strength=0.05)


@pytest.fixture(autouse=True)
def _registries_restored() -> Iterator[None]:
    """Every name registry (models, cost models, methods, data sets, targets) as it was before each test: a
    test that registers a thing of its own must not leak it into the next (CI once failed a coverage test
    over the model registry because a reliability test had registered a model at import time). The
    registries that fill themselves on first use are filled first, so the snapshot holds the built-ins."""
    import zoo
    from cost_models.registry import COST_MODELS
    from search.methods.registry import METHODS, method_names
    from targets import registry as targets

    method_names()
    targets.target_names()
    saved = [(r, dict(r)) for r in (COST_MODELS, METHODS, zoo.data.DATASETS, zoo.MODELS, targets._TARGETS)]
    yield
    for registry, before in saved:
        registry.clear()
        registry.update(before)
    targets._loaded = True


class TinyResNet(nn.Module):
    """Stem conv-BN-ReLU, an identity residual block, a downsampling block with a 1x1 shortcut, pool, fc."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, 1, 1)
        self.stem_bn = nn.BatchNorm2d(4)
        self.a1 = nn.Conv2d(4, 4, 3, 1, 1)
        self.a1_bn = nn.BatchNorm2d(4)
        self.a2 = nn.Conv2d(4, 4, 3, 1, 1)
        self.a2_bn = nn.BatchNorm2d(4)
        self.b1 = nn.Conv2d(4, 6, 3, 2, 1)
        self.b1_bn = nn.BatchNorm2d(6)
        self.b2 = nn.Conv2d(6, 6, 3, 1, 1)
        self.b2_bn = nn.BatchNorm2d(6)
        self.shortcut = nn.Conv2d(4, 6, 1, 2)
        self.fc = nn.Linear(6, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.stem_bn(self.stem(x)))
        x = F.relu(x + self.a2_bn(self.a2(F.relu(self.a1_bn(self.a1(x))))))
        x = F.relu(self.shortcut(x) + self.b2_bn(self.b2(F.relu(self.b1_bn(self.b1(x))))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class TinyDSCNN(nn.Module):
    """conv-BN-ReLU, depthwise 3x3-BN-ReLU, pointwise-BN-ReLU, pool, fc."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 5, 3, 2, 1)
        self.bn = nn.BatchNorm2d(5)
        self.dw = nn.Conv2d(5, 5, 3, 1, 1, groups=5)
        self.dw_bn = nn.BatchNorm2d(5)
        self.pw = nn.Conv2d(5, 4, 1)
        self.pw_bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn(self.conv(x)))
        x = F.relu(self.dw_bn(self.dw(x)))
        x = F.relu(self.pw_bn(self.pw(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class TinyConcat(nn.Module):
    """Two branches (conv-BN-ReLU with 3 channels, bias-free 1x1 conv with 4) concatenated into a conv,
    then max-pool, flatten (each channel spans 4x4 = 16 features) and fc."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.left = nn.Conv2d(2, 3, 3, 1, 1)
        self.left_bn = nn.BatchNorm2d(3)
        self.right = nn.Conv2d(2, 4, 1, bias=False)
        self.merge = nn.Conv2d(7, 5, 3, 1, 1)
        self.fc = nn.Linear(5 * 4 * 4, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.cat([F.relu(self.left_bn(self.left(x))), F.relu(self.right(x))], dim=1)
        y = F.max_pool2d(F.relu(self.merge(y)), 2)
        return self.fc(torch.flatten(y, 1))


class TinyFlatten(nn.Module):
    """QuantNet in miniature: conv/2-ReLU, flatten (each channel spans 4x4 = 16 features), fc-ReLU, fc."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, 2, 1)
        self.fc1 = nn.Linear(3 * 4 * 4, 5)
        self.fc2 = nn.Linear(5, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(F.relu(self.conv(x)), 1)
        return self.fc2(F.relu(self.fc1(x)))


TINY_MODELS: dict[str, tuple[type[nn.Module], tuple[int, ...]]] = {
    "resnet": (TinyResNet, (3, 8, 8)),
    "dscnn": (TinyDSCNN, (1, 8, 8)),
    "concat": (TinyConcat, (2, 8, 8)),
    "flatten": (TinyFlatten, (2, 8, 8)),
}


def randomize_batchnorms(model: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial BN statistics and affine parameters (fresh BNs are nearly the identity in eval mode)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(0.3 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=generator))
                m.weight.copy_(1.0 + 0.3 * torch.randn(n, generator=generator))
                m.bias.copy_(0.3 * torch.randn(n, generator=generator))


def make_tiny_model(name: str, seed: int = 0, batch: int = 8) -> tuple[nn.Module, Tensor]:
    """(model in eval mode, input batch) for one of TINY_MODELS, both seeded."""
    cls, in_shape = TINY_MODELS[name]
    torch.manual_seed(seed)
    model = cls()
    g = torch.Generator().manual_seed(seed)
    randomize_batchnorms(model, g)
    return model.eval(), torch.randn(batch, *in_shape, generator=g)


def set_random_arch(net, seed: int, keep_one: int | None = None) -> dict[str, list[int]]:
    """Point every gate of `net` (channel groups and searchable activation quantizers) at random options.

    Every prunable group keeps at least one channel. `keep_one=i` makes the i-th prunable group
    (by gate key order) keep exactly one channel. Returns {gate key: bits}.
    """
    g = torch.Generator().manual_seed(seed)
    chosen: dict[str, list[int]] = {}
    prunable = [k for k, gate in net.gates.items() if gate.prunable]
    for key, gate in net.gates.items():
        picks = torch.randint(len(gate.options), (gate.channels,), generator=g).tolist()
        bits = [gate.options[i] for i in picks]
        nonzero = [b for b in gate.options if b > 0]
        if keep_one is not None and prunable and key == prunable[keep_one % len(prunable)]:
            bits = [0] * gate.channels
        if gate.prunable and not any(bits):
            c = int(torch.randint(gate.channels, (1,), generator=g))
            bits[c] = nonzero[int(torch.randint(len(nonzero), (1,), generator=g))]
        gate.set_choice(bits)
        chosen[key] = bits
    for name in net.layer_names:
        act = net.layer(name).act
        if act.gates is not None:
            act.gates.set_choice([act.options[int(torch.randint(len(act.options), (1,), generator=g))]])
    return chosen


@pytest.fixture
def tiny_model() -> Callable[..., tuple[nn.Module, Tensor]]:
    """make_tiny_model(name, seed=0, batch=8) -> (model, x); names: resnet, dscnn, concat, flatten."""
    return make_tiny_model


@pytest.fixture
def random_batchnorms() -> Callable[[nn.Module, torch.Generator], None]:
    """randomize_batchnorms(model, generator): non-trivial BN statistics and affine parameters."""
    return randomize_batchnorms


@pytest.fixture
def random_arch() -> Callable[..., dict[str, list[int]]]:
    """set_random_arch(net, seed, keep_one=None) -> {gate key: bits}."""
    return set_random_arch


# Hypothesis profiles for the fuzz tests (tests/fuzz): "default" keeps `make test` fast and repeatable
# (derandomized: the same examples on every machine, no example database written); "long", for
# `make test-all` (HYPOTHESIS_PROFILE=long), runs FUZZ_SCALE times as many examples per property,
# freshly drawn each time, and keeps failing examples in .hypothesis/ to replay them.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the fuzz tests skip themselves without hypothesis (pip install -e '.[dev]')
    pass
else:
    _QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.differing_executors]
    settings.register_profile("default", deadline=None, derandomize=True, database=None, suppress_health_check=_QUIET)
    settings.register_profile("long", deadline=None, suppress_health_check=_QUIET)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
