"""Learnable gates over bit-width options, and the temperature schedule that sharpens them.

`alpha` has shape (|B|, C): one column of logits per output channel (C = 1 for a
per-layer choice). theta = softmax(alpha / tau) over the options. The probabilities are
a pure function of the parameters and of buffers the training loop sets between steps
(`tau`, Gumbel `noise`), so the forward pass and the cost model always see the same theta.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from supernet.derived import derived

SAMPLING_MODES = ("soft", "gumbel", "hard", "hard-gumbel")
TAU_SCHEDULES = ("anneal", "exp", "linear", "constant")


_MEMO: ContextVar[dict[tuple[int, str], Tensor] | None] = ContextVar("bitgate_gate_probs", default=None)


@contextmanager
def one_evaluation() -> Iterator[None]:
    """Within the block every gate computes its probabilities once (per sampling mode) and hands out that one
    tensor: a forward pass reads a gate in each layer that shares it (a residual group) and in each consumer's
    input weighting, a cost in each layer's record. The values are the same; the graph has one softmax per
    gate instead of one per read. Nested blocks share the outermost one's values. Change no gate (its
    parameters, temperature or noise) inside a block."""
    token = _MEMO.set({}) if _MEMO.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _MEMO.reset(token)


class ChannelGates(nn.Module):
    def __init__(self, options: tuple[int, ...], channels: int) -> None:
        super().__init__()
        if not options or len(set(options)) != len(options):
            raise ValueError(f"bit options must be distinct and non-empty, got {options}")
        if any(b < 0 or b > 16 for b in options):
            raise ValueError(f"bit options must be in 0..16, got {options}")
        self.options = tuple(sorted(options))
        self.channels = channels
        # Reference init (seed 001 code): alpha[b] = b / max(B), a mild bias towards high precision.
        init = torch.tensor([b / max(self.options) for b in self.options]).unsqueeze(1)
        self.alpha = nn.Parameter(init.repeat(1, channels))
        self.register_buffer("tau", torch.tensor(1.0))
        self.register_buffer("noise", torch.zeros(len(self.options), channels))
        # Which options each channel may take (a sequential search narrows them per phase). Not
        # persistent: it is a search control set between phases, like `mode`, and state dicts
        # saved before it existed still load.
        self.register_buffer("allowed", torch.ones(len(self.options), channels, dtype=torch.bool), persistent=False)
        # Channels that may not take option 0 right now (the search's minimum of kept channels per group,
        # see `reserve_most_kept`); a search control like `allowed`, recomputed from alpha between epochs.
        self.register_buffer("reserved", torch.zeros(channels, dtype=torch.bool), persistent=False)
        self.mode = "soft"

    @property
    def prunable(self) -> bool:
        return 0 in self.options

    def resample(self, generator: torch.Generator | None = None) -> None:
        """Draw fresh Gumbel noise; called by the training loop once per step. Drawn where the generator lives
        (the run's device: no copy from the host per step), so the CPU draws what it always drew."""
        device = generator.device if generator is not None else self.noise.device
        u = torch.rand(self.noise.shape, generator=generator, device=device).to(self.noise.device)
        self.noise.copy_(-torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-10))))

    def set_allowed(self, allowed: Tensor | None) -> None:
        """Restrict each channel to some options: a bool (|B|, C) mask (or (|B|,), or (|B|, 1) broadcast
        over channels); None allows everything again. Masked options get probability exactly 0."""
        if allowed is None:
            self.allowed.fill_(True)
            return
        mask = torch.as_tensor(allowed, dtype=torch.bool, device=self.allowed.device)
        mask = mask.reshape(len(self.options), -1) if mask.dim() < 2 else mask
        if mask.shape[0] != len(self.options) or mask.shape[1] not in (1, self.channels):
            shape = (len(self.options), self.channels)
            raise ValueError(f"allowed mask must have shape {shape}, got {tuple(mask.shape)}")
        mask = mask.expand(len(self.options), self.channels)
        if not bool(mask.any(0).all()):
            raise ValueError("allowed mask leaves a channel without any option")
        self.allowed.copy_(mask)

    def reserve_most_kept(self, count: int) -> None:
        """Forbid option 0 to the `count` channels most likely kept (by the logits without this
        reservation): a group can never lose all, or nearly all, of its channels, whatever the strength.
        The channels' other options stay free, and the reservation follows the gates between epochs."""
        self.reserved.fill_(False)
        if not self.prunable or count <= 0:
            return
        alpha = self._masked(self.allowed).detach()
        margin = alpha[1:].max(0).values - alpha[0]  # how much a channel prefers being kept
        top = margin.topk(min(count, self.channels)).indices
        self.reserved[top] = True

    def _masked(self, allowed: Tensor) -> Tensor:
        return self.alpha.masked_fill(~allowed, float("-inf"))

    def blocked(self) -> Tensor:
        """Options each channel may not take now: not `allowed`, and 0 where `reserved` (a channel whose only
        option is 0 stays pruned). Rebuilt only after either buffer changed (supernet/derived.py), so the
        per-step logits neither recompute it nor read a device value."""
        return derived(self, "_blocked", (self.allowed, self.reserved), self._make_blocked)

    def _make_blocked(self) -> Tensor:
        allowed = self.allowed.clone()
        allowed[0] &= ~self.reserved
        allowed[0] |= ~allowed.any(0)
        return ~allowed

    def logits(self) -> Tensor:
        """alpha with the blocked options at -inf."""
        return self.alpha.masked_fill(self.blocked(), float("-inf"))

    def probs(self) -> Tensor:
        """theta, shape (|B|, C); columns sum to one. 'hard' modes are one-hot in value, soft in gradient.
        Inside `one_evaluation()` computed once per gate and sampling mode."""
        memo = _MEMO.get()
        if memo is None:
            return self._probs()
        key = (id(self), self.mode)
        if key not in memo:
            memo[key] = self._probs()
        return memo[key]

    def _probs(self) -> Tensor:
        logits = self.logits()
        logits = logits + self.noise if self.mode in ("gumbel", "hard-gumbel") else logits
        soft = F.softmax(logits / self.tau, dim=0)
        if self.mode in ("hard", "hard-gumbel"):
            # the one-hot of the argmax by a scatter: F.one_hot checks its indices on the host (CPU)
            onehot = torch.zeros_like(soft).scatter_(0, soft.argmax(0, keepdim=True), 1.0)
            # straight-through: the soft gradient; without autograd (argmax pricing) that term is exactly 0
            return onehot + (soft - soft.detach()) if torch.is_grad_enabled() else onehot
        return soft

    def keep(self) -> Tensor:
        """Probability that each channel is kept (not 0 bits), shape (C,)."""
        theta = self.probs()
        return 1.0 - theta[0] if self.prunable else theta.new_ones(theta.shape[1])

    def choice(self) -> list[int]:
        """The argmax option of every channel (what discretization picks)."""
        return [self.options[i] for i in self.logits().detach().argmax(0).tolist()]

    def set_choice(self, bits: list[int] | tuple[int, ...], margin: float = 20.0) -> None:
        """Point every channel's logits at the given options (for tests and warm starts)."""
        if len(bits) != self.channels:
            raise ValueError(f"expected {self.channels} bit choices, got {len(bits)}")
        bad = sorted({b for b in bits if b not in self.options})
        if bad:
            raise ValueError(f"bit-widths {bad} are not among the options {self.options}")
        index = torch.tensor([self.options.index(b) for b in bits], device=self.allowed.device)
        if not bool(self.allowed.gather(0, index.unsqueeze(0)).all()):
            raise ValueError("set_choice picks an option that the allowed mask excludes")
        with torch.no_grad():
            self.alpha.zero_()
            for c, b in enumerate(bits):
                self.alpha[self.options.index(b), c] = margin

    def extra_repr(self) -> str:
        return f"options={self.options}, channels={self.channels}, mode={self.mode}"


@dataclass(frozen=True)
class TemperatureSchedule:
    """tau(epoch) for the search. Reference (seed 001 code): tau0 = 1, tau *= exp(-0.045) per epoch
    ("exp"); that leaves tau at 0.64 after 10 epochs, far from the argmax that is deployed. "anneal"
    goes geometrically from tau0 to tau_final over the search's `epochs`, whatever their number."""

    kind: str = "anneal"  # "anneal", "exp", "linear" or "constant"
    tau0: float = 1.0
    decay: float = 0.045  # per epoch, "exp" and "linear" only ("linear": the decrement per epoch)
    tau_min: float = 1e-3  # floor of "exp" and "linear"
    tau_final: float = 0.1  # "anneal" only: tau at the end of the search
    epochs: int = 0  # "anneal" only: the search's length

    def __post_init__(self) -> None:
        if self.kind not in TAU_SCHEDULES:
            raise ValueError(f"temperature schedule kind must be one of {', '.join(TAU_SCHEDULES)}, got {self.kind!r}")
        if self.tau0 <= 0 or self.tau_min <= 0 or self.decay < 0 or self.tau_final <= 0:
            raise ValueError("temperature schedule needs tau0 > 0, tau_final > 0, tau_min > 0 and decay >= 0")
        if self.kind == "anneal" and self.epochs < 1:
            raise ValueError("the anneal temperature schedule needs the number of search epochs (>= 1)")

    def __call__(self, epoch: float) -> float:
        """tau at `epoch` (fractional: the training loop sets it every step). For "anneal", epoch E
        (the end of the last epoch) gives exactly tau_final: tau0 * (tau_final / tau0) ** (epoch / E)."""
        if self.kind == "anneal":
            progress = min(max(epoch / self.epochs, 0.0), 1.0)
            return self.tau0 * (self.tau_final / self.tau0) ** progress
        if self.kind == "constant":
            tau = self.tau0
        elif self.kind == "exp":
            tau = self.tau0 * math.exp(-self.decay * epoch)
        else:
            tau = self.tau0 - self.decay * epoch
        return max(tau, self.tau_min)
