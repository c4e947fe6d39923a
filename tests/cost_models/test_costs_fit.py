"""check_fit: Flash (memory cost) and SRAM (planned peak activations) against the target or budgets."""

from __future__ import annotations

import pytest
import torch

from cost_models import evaluate
from cost_models.fit import check_fit, limit_costs, limits
from deploy.buffers import plan_buffers
from supernet import Architecture, to_supernet
from targets import get_target
from zoo.models import create_model


@pytest.fixture(scope="module")
def resnet8_w8():
    torch.manual_seed(0)
    net = to_supernet(create_model("resnet8", 10, (3, 32, 32)), torch.randn(32, 3, 32, 32), bits=(0, 2, 4, 8))
    arch = Architecture.uniform({n: s.out_channels for n, s in net.specs.items()}, 8, 8)
    return net.layer_choices(arch, plan=plan_buffers)


def test_fit_numbers_are_the_costs_and_the_target(resnet8_w8):
    target = get_target("stm32l4")
    fit = check_fit(resnet8_w8, target)
    assert fit.flash_bytes == evaluate("memory", resnet8_w8, target).item()
    assert fit.ram_bytes == evaluate("peak_activation_ram", resnet8_w8, target).item()
    assert (fit.flash_limit, fit.ram_limit) == (target.flash_bytes, target.ram_bytes)
    assert fit.fits and fit.summary().startswith("fits stm32l4: Flash ")


def test_each_budget_is_checked_on_its_own(resnet8_w8):
    target = get_target("stm32l4")
    need = check_fit(resnet8_w8, target)
    ram_only = check_fit(resnet8_w8, target, ram_budget=need.ram_bytes - 1)
    assert ram_only.fits_flash and not ram_only.fits_ram and not ram_only.fits
    assert "does not fit" in ram_only.summary() and "RAM" in ram_only.summary() and "(over)" in ram_only.summary()
    flash_only = check_fit(resnet8_w8, target, flash_budget=need.flash_bytes - 1, ram_budget=need.ram_bytes)
    assert not flash_only.fits_flash and flash_only.fits_ram
    assert check_fit(resnet8_w8, target, need.flash_bytes, need.ram_bytes).fits  # limits are inclusive


def test_limit_costs_are_differentiable():
    torch.manual_seed(0)
    net = to_supernet(create_model("resnet8", 10, (3, 32, 32)), torch.randn(8, 3, 32, 32), bits=(0, 2, 4, 8))
    costs = limit_costs(net.layer_choices(plan=plan_buffers), get_target("generic"))
    (costs["memory"] + costs["peak_activation_ram"]).backward()
    grads = [g.alpha.grad for g in net.gates.values()]
    assert any(g is not None and bool(g.abs().sum() > 0) for g in grads)


def test_bad_budget_is_refused():
    with pytest.raises(ValueError, match="ram_budget must be > 0"):
        limits(get_target("gap8"), ram_budget=0)
