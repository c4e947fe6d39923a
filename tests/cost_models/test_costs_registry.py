"""The cost model registry: registration, lookup errors, applicability."""

from __future__ import annotations

import pytest
import torch

from cost_models import applicable, evaluate, get, names, register
from cost_models import registry as reg
from targets import get_target, target_names


def test_builtin_models_and_units():
    assert {
        "size",
        "memory",
        "macs",
        "bitops",
        "peak_activation_ram",
        "latency_mpic",
        "latency_gap8",
        "latency_cortexm",
    } <= set(names())
    assert get("memory").unit == "bytes"
    assert get("latency_gap8").unit == "cycles"


def test_unknown_name_is_one_line_listing_known_names():
    with pytest.raises(KeyError) as info:
        get("flash")
    message = str(info.value)
    assert "\n" not in message and "'flash'" in message
    assert all(name in message for name in names())
    with pytest.raises(ValueError):  # also a ValueError, for callers that catch that
        evaluate("flash", [], get_target("generic"))


def test_duplicate_registration_is_a_key_error(monkeypatch):
    monkeypatch.setattr(reg, "COST_MODELS", dict(reg.COST_MODELS))
    with pytest.raises(KeyError, match="already registered"):
        register("size", unit="bytes")(lambda choices, target: torch.zeros(()))


def test_new_model_registers_and_evaluates(monkeypatch):
    monkeypatch.setattr(reg, "COST_MODELS", dict(reg.COST_MODELS))
    register("layers", unit="layers")(lambda choices, target: torch.tensor(float(len(choices))))
    assert "layers" in names()
    assert evaluate("layers", [], get_target("generic")).item() == 0


@pytest.mark.parametrize("target_name", target_names())
def test_latency_models_apply_only_to_their_family(target_name):
    target = get_target(target_name)
    latency = {"mpic": "latency_mpic", "gap8": "latency_gap8", "cortex-m": "latency_cortexm", "ne16": "latency_ne16"}
    expected = {latency[target.family]} if target.family in latency else set()
    assert {n for n in applicable(target) if n.startswith("latency_")} == expected
    for name in {"latency_mpic", "latency_gap8", "latency_cortexm"} - expected:
        with pytest.raises(ValueError, match="does not apply") as info:
            evaluate(name, [], target)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("target_name", target_names())
def test_default_costs_are_registered_and_applicable(target_name):
    target = get_target(target_name)
    assert target.costs and set(target.costs) <= set(applicable(target))


def test_empty_network_costs_zero():
    target = get_target("generic")
    for name in applicable(target):
        assert evaluate(name, [], target).item() == 0
