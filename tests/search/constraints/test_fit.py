"""repair_to_fit: a discrete architecture over a Flash and a RAM limit comes back within both."""

from __future__ import annotations

import pytest
import torch

from cost_models.fit import check_fit
from deploy.buffers import plan_buffers
from search.constraints.fit import repair_ram, repair_to_fit
from supernet import Architecture, to_supernet
from targets import get_target
from zoo.models import create_model


@pytest.fixture(scope="module")
def resnet8():
    torch.manual_seed(0)
    net = to_supernet(create_model("resnet8", 10, (3, 32, 32)), torch.randn(16, 3, 32, 32), bits=(0, 2, 4, 8))
    arch = Architecture.uniform({n: s.out_channels for n, s in net.specs.items()}, 8, 8)
    return net, arch


def test_both_limits_are_met(resnet8):
    net, arch = resnet8
    target = get_target("generic")
    start = check_fit(net.layer_choices(arch, plan=plan_buffers), target)
    flash, ram = 0.6 * start.flash_bytes, 0.8 * start.ram_bytes
    fixed = repair_to_fit(net, arch, target, flash, ram)
    fit = check_fit(net.layer_choices(fixed, plan=plan_buffers), target, flash, ram)
    assert fit.fits, fit.summary()
    assert fit.ram_bytes >= 0.6 * start.ram_bytes  # pruned only as far as needed, not to the floor
    assert fixed.meta["repaired_to_ram"] == pytest.approx(int(ram))


def test_unreachable_ram_budget_is_refused_with_the_floor(resnet8):
    net, arch = resnet8
    with pytest.raises(ValueError, match="smallest reachable peak activation RAM"):
        repair_ram(net, arch, get_target("generic"), 1000)
