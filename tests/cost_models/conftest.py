"""Builders for hand-made LayerChoices (one-hot from plain bit lists, or soft from logits)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from supernet.spec import LayerChoice, LayerSpec


def one_hot(options: Sequence[int], picks: Sequence[int]) -> torch.Tensor:
    """(|options|, len(picks)) float32 one-hot matrix: column c selects picks[c]."""
    probs = torch.zeros(len(options), len(picks))
    for c, bits in enumerate(picks):
        probs[options.index(bits), c] = 1.0
    return probs


def discrete_choice(
    spec: LayerSpec,
    options: Sequence[int],
    bits: Sequence[int],
    in_kept: Sequence[int] | None = None,
    act: int = 8,
    out_act: int = 8,
    act_options: Sequence[int] = (2, 4, 8),
) -> LayerChoice:
    """One-hot LayerChoice from plain ints: bits[c] per output channel, in_kept[j] in {0, 1}."""
    in_kept = [1] * spec.in_channels if in_kept is None else in_kept
    return LayerChoice(
        spec=spec,
        weight_bits=tuple(options),
        weight_probs=one_hot(options, bits),
        in_keep=torch.tensor(in_kept, dtype=torch.float32),
        act_bits=tuple(act_options),
        act_probs=one_hot(act_options, [act])[:, 0],
        out_act_bits=tuple(act_options),
        out_act_probs=one_hot(act_options, [out_act])[:, 0],
    )


def soft_choice(
    spec: LayerSpec,
    options: Sequence[int],
    alpha: torch.Tensor,
    in_keep: torch.Tensor | None = None,
    act_logits: torch.Tensor | None = None,
    act_options: Sequence[int] = (8,),
) -> LayerChoice:
    """Soft LayerChoice: weight_probs = softmax(alpha, 0), act probs = softmax(act_logits)."""
    act_logits = torch.zeros(len(act_options)) if act_logits is None else act_logits
    act_probs = torch.softmax(act_logits, 0)
    return LayerChoice(
        spec=spec,
        weight_bits=tuple(options),
        weight_probs=torch.softmax(alpha, 0),
        in_keep=torch.ones(spec.in_channels) if in_keep is None else in_keep,
        act_bits=tuple(act_options),
        act_probs=act_probs,
        out_act_bits=tuple(act_options),
        out_act_probs=act_probs,
    )


@pytest.fixture
def make_discrete():
    return discrete_choice


@pytest.fixture
def make_soft():
    return soft_choice
