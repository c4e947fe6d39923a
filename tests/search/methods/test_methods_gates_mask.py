"""ChannelGates' allowed-option mask (used by prune-then-mps): masked options are never chosen."""

from __future__ import annotations

import pytest
import torch

from search.methods.sequential import allow_mps_on_kept, allow_prune_only
from supernet import ChannelGates, to_supernet
from zoo.models import create_model


def _gates_preferring_masked() -> ChannelGates:
    g = ChannelGates((0, 2, 4, 8), 5)
    with torch.no_grad():
        g.alpha.copy_(torch.randn(4, 5, generator=torch.Generator().manual_seed(0)))
        g.alpha[1] = 10.0  # 2 bits would win everywhere...
    g.set_allowed(torch.tensor([True, False, True, True]))  # ...but it is not allowed
    return g


@pytest.mark.parametrize("mode", ["soft", "gumbel", "hard", "hard-gumbel"])
def test_masked_option_has_zero_probability_and_is_never_chosen(mode):
    g = _gates_preferring_masked()
    g.mode = mode
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        g.resample(gen)
        theta = g.probs()
        assert torch.all(theta[1] == 0)
        assert torch.allclose(theta.sum(0), torch.ones(5))
    assert 2 not in g.choice()
    theta.sum().backward()
    assert torch.all(g.alpha.grad[1] == 0)


def test_per_channel_mask_and_reset():
    g = ChannelGates((0, 2, 4, 8), 3)
    mask = torch.tensor([[True, False, False], [False, True, False], [False, True, False], [False, False, True]])
    g.set_allowed(mask)
    assert g.choice() == [0, 4, 8]  # reference init prefers high precision among what is allowed
    assert torch.equal(g.probs() > 0, mask)
    g.set_allowed(None)
    assert g.choice() == [8, 8, 8]


def test_bad_masks_and_masked_set_choice_are_refused():
    g = ChannelGates((0, 2, 4, 8), 2)
    with pytest.raises(ValueError, match="without any option"):
        g.set_allowed(torch.tensor([[True, False], [False, False], [False, False], [True, False]]))
    with pytest.raises(ValueError, match="shape"):
        g.set_allowed(torch.ones(3, 2, dtype=torch.bool))
    g.set_allowed(torch.tensor([True, False, True, True]))
    with pytest.raises(ValueError, match="allowed mask"):
        g.set_choice([2, 8])


def test_mask_is_not_in_the_state_dict():
    """Checkpoints written before the mask existed still load, and the mask is a per-phase control."""
    g = ChannelGates((0, 8), 4)
    assert set(g.state_dict()) == {"alpha", "tau", "noise"}
    g.load_state_dict({k: v for k, v in ChannelGates((0, 8), 4).state_dict().items()})


def test_prune_then_mps_phases_keep_the_pruning_decisions():
    torch.manual_seed(0)
    net = to_supernet(create_model("digits_cnn", 4, (1, 8, 8)), torch.randn(8, 1, 8, 8), bits=(0, 2, 4, 8))
    allow_prune_only(net)
    for g in net.weight_gates():
        with torch.no_grad():
            g.alpha.copy_(torch.randn_like(g.alpha) * 3)
        assert set(g.choice()) <= {0, 8}
    kept = [[b > 0 for b in g.choice()] for g in net.weight_gates()]
    allow_mps_on_kept(net)
    for g, k in zip(net.weight_gates(), kept, strict=True):
        with torch.no_grad():
            g.alpha.copy_(torch.randn_like(g.alpha) * 3)  # whatever phase two learns...
        now = [b > 0 for b in g.choice()]
        assert now == k if any(k) else sum(now) == 1  # pruned stays pruned, kept stays kept (>= 1 kept)
