"""Bit-width gates: softmax over options, temperature, hard and Gumbel sampling, reference init."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from supernet import ChannelGates, TemperatureSchedule, to_supernet


def entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(1e-30).log()).sum(0)


def test_reference_init_and_softmax_over_options() -> None:
    gates = ChannelGates((8, 0, 4, 2), channels=3)
    assert gates.options == (0, 2, 4, 8)
    assert torch.equal(gates.alpha, torch.tensor([[0.0], [0.25], [0.5], [1.0]]).repeat(1, 3))  # alpha[b] = b / max(B)
    with torch.no_grad():
        gates.alpha.normal_()
    theta = gates.probs()
    assert theta.shape == (4, 3)
    assert torch.allclose(theta.sum(0), torch.ones(3))
    assert torch.allclose(theta, F.softmax(gates.alpha, dim=0))
    assert torch.allclose(gates.keep(), 1 - theta[0])
    assert gates.prunable and not ChannelGates((2, 8), 3).prunable
    assert torch.equal(ChannelGates((2, 8), 3).keep(), torch.ones(3))


def test_lower_temperature_gives_sharper_probabilities() -> None:
    gates = ChannelGates((0, 2, 4, 8), channels=1)  # reference init favours 8 bits
    maxima, entropies = [], []
    for tau in (2.0, 1.0, 0.5, 0.1, 0.01):
        gates.tau.fill_(tau)
        theta = gates.probs()[:, 0]
        assert torch.allclose(theta, F.softmax(gates.alpha[:, 0] / tau, 0))
        maxima.append(theta.max().item())
        entropies.append(entropy(theta).item())
    assert maxima == sorted(maxima) and entropies == sorted(entropies, reverse=True)
    assert maxima[-1] == pytest.approx(1.0) and gates.probs()[:, 0].argmax() == 3


def test_temperature_schedules() -> None:
    ref = TemperatureSchedule("exp")  # the seed's: tau0 = 1, tau *= exp(-0.045) per epoch
    assert ref(0) == 1.0
    assert ref(1) == pytest.approx(math.exp(-0.045)) == pytest.approx(0.955997, abs=1e-6)
    assert ref(10) == pytest.approx(0.637628, abs=1e-6)
    assert TemperatureSchedule("exp", tau0=2.0)(10) == pytest.approx(1.275256, abs=1e-6)
    assert TemperatureSchedule("exp", tau_min=0.5)(100) == 0.5
    linear = TemperatureSchedule("linear", tau0=1.0, decay=0.1)
    assert linear(3) == pytest.approx(0.7) and linear(20) == 1e-3
    assert TemperatureSchedule("constant", tau0=3.0)(50) == 3.0
    with pytest.raises(ValueError, match="anneal, exp, linear, constant"):
        TemperatureSchedule("cosine")
    with pytest.raises(ValueError):
        TemperatureSchedule(tau0=0.0)
    with pytest.raises(ValueError, match="search epochs"):
        TemperatureSchedule("anneal")  # the default needs the search length


@pytest.mark.parametrize("epochs", [1, 2, 3, 7, 10, 40, 250])
def test_anneal_schedule_ends_at_its_final_temperature_for_any_length(epochs: int) -> None:
    sched = TemperatureSchedule(tau0=1.0, tau_final=0.05, epochs=epochs)
    assert sched(0) == 1.0
    assert sched(epochs) == pytest.approx(0.05, rel=1e-12)  # the end of the last epoch
    assert sched(epochs / 2) == pytest.approx(math.sqrt(0.05), rel=1e-12)  # geometric: halfway in log tau
    steps = [sched(e / 4) for e in range(4 * epochs + 1)]
    assert steps == sorted(steps, reverse=True)  # monotone, also within an epoch


def test_reserved_channels_cannot_be_pruned_and_follow_the_gates() -> None:
    gates = ChannelGates((0, 2, 8), 6)
    with torch.no_grad():
        gates.alpha.copy_(torch.tensor([[9.0] * 6, [0.0, 1.0, 2.0, 0.0, 0.0, 3.0], [0.0] * 6]))
    assert gates.choice() == [0] * 6  # every channel pruned
    gates.reserve_most_kept(2)
    assert gates.reserved.tolist() == [False, False, True, False, False, True]  # margins 1 - 9, 2 - 9, 3 - 9
    assert gates.choice() == [0, 0, 2, 0, 0, 2]
    assert float(gates.probs().detach()[0, 2]) == 0.0 and float(gates.probs().detach()[0, 0]) > 0.99
    with torch.no_grad():
        gates.alpha[2, 0] = 20.0  # channel 0 now wants 8 bits: it is kept by its own choice
    gates.reserve_most_kept(2)
    assert gates.reserved.tolist() == [True, False, False, False, False, True]
    gates.reserve_most_kept(0)
    assert not gates.reserved.any() and gates.choice()[5] == 0


def test_supernet_sets_temperature_and_mode_on_every_gate(tiny_model) -> None:
    model, x = tiny_model("resnet")
    net = to_supernet(model, x, act_bits=(2, 4, 8))
    net.set_temperature(0.3)
    net.set_sampling("gumbel")
    gates = list(net.all_gates())
    assert len(gates) == len(net.gates) + len(net.layer_names)  # channel groups + activation gates
    assert all(g.tau.item() == pytest.approx(0.3) and g.mode == "gumbel" for g in gates)
    with pytest.raises(ValueError, match="sampling mode"):
        net.set_sampling("argmax")


@pytest.mark.parametrize("mode", ["hard", "hard-gumbel"])
def test_hard_mode_is_one_hot_in_value_with_soft_gradient(mode: str) -> None:
    gates = ChannelGates((0, 2, 4, 8), channels=5)
    with torch.no_grad():
        gates.alpha.normal_()
    gates.resample(torch.Generator().manual_seed(3))
    gates.mode = mode
    theta = gates.probs()
    logits = gates.alpha + (gates.noise if mode == "hard-gumbel" else 0)
    assert torch.equal(theta.detach(), F.one_hot(logits.argmax(0), 4).T.float())
    w = torch.randn(4, 5)
    (theta * w).sum().backward()
    hard_grad = gates.alpha.grad.clone()
    assert hard_grad.abs().min() > 0  # every option of every channel gets a gradient
    gates.alpha.grad = None
    gates.mode = "gumbel" if mode == "hard-gumbel" else "soft"
    (gates.probs() * w).sum().backward()
    assert torch.allclose(hard_grad, gates.alpha.grad)  # straight-through: the soft probabilities' gradient


def test_gumbel_uses_the_resampled_noise() -> None:
    gates = ChannelGates((0, 2, 4, 8), channels=6)
    gates.mode = "gumbel"
    assert torch.equal(gates.probs(), F.softmax(gates.alpha, 0))  # no noise drawn yet
    gates.resample(torch.Generator().manual_seed(0))
    first = gates.probs().detach()
    assert torch.allclose(first, F.softmax(gates.alpha + gates.noise, 0))
    assert torch.equal(gates.probs().detach(), first)  # probabilities depend on the stored noise only
    gates.resample(torch.Generator().manual_seed(0))
    assert torch.equal(gates.probs().detach(), first)  # same noise, same probabilities
    gates.resample(torch.Generator().manual_seed(1))
    assert not torch.allclose(gates.probs().detach(), first)  # new noise, new probabilities
    gates.mode = "soft"
    assert torch.equal(gates.probs(), F.softmax(gates.alpha, 0))  # soft mode ignores the noise


def test_gumbel_noise_is_standard_gumbel() -> None:
    gates = ChannelGates((0, 8), channels=20000)
    gates.resample(torch.Generator().manual_seed(0))
    # Gumbel(0, 1): mean = Euler-Mascheroni constant, variance = pi^2 / 6
    assert gates.noise.mean().item() == pytest.approx(0.5772, abs=0.02)
    assert gates.noise.var().item() == pytest.approx(math.pi**2 / 6, abs=0.05)


def test_set_choice_and_choice() -> None:
    gates = ChannelGates((0, 2, 4, 8), channels=4)
    gates.set_choice([8, 0, 2, 4])
    assert gates.choice() == [8, 0, 2, 4]
    assert torch.equal(gates.probs().argmax(0), torch.tensor([3, 0, 1, 2]))
    with pytest.raises(ValueError, match="expected 4"):
        gates.set_choice([8, 8])
    with pytest.raises(ValueError, match=r"\[3\]"):
        gates.set_choice([8, 3, 8, 8])
    with pytest.raises(ValueError, match="distinct"):
        ChannelGates((2, 2), 1)
    with pytest.raises(ValueError, match="0..16"):
        ChannelGates((0, 32), 1)
