"""The features a Cortex-M latency table multiplies: loop counts of CMSIS-NN kernels, as products of symbols.

A table entry such as `"P2*n*K4" = 6.1` says: this kernel kind spends about 6.1 instructions per
iteration of a loop that runs floor(P/2) x n x floor(K/4) times (CMSIS-NN's DSP convolution handles two
output pixels per pass, all output channels, four input columns per SMLAD pair). Features are written
as products of the symbols below so that the table, not the code, says which loops a kind has; the code
only knows how to count each symbol for one kernel call. The symbols follow how the kernels loop
(arm_convolve_s8.c: im2col per output pixel, two pixels per matrix pass; arm_nn_mat_mult_nt_t_s8.c:
16 / 4 / 1 columns per step; the depthwise kernels: 4 channels per step, taps per pixel; Helium: 16
bytes per vector, 4 rows per pass).

Counts are float64 tensors: expected channel counts while searching, whole numbers at a one-hot
architecture, where every symbol is the kernel's exact loop count. Floors use a straight-through
gradient; remainders (n - 2 floor(n/2)) have none, and at whole numbers they are the exact remainders.

Symbols of one call (P output pixels, n output channels of the call, c input channels of the call, T taps):
  P, P2 = floor(P/2), Po = P mod 2, P4 = floor(P/4), Pr4 = P mod 4, Ho = output rows, Q2, Qo, Q4, Qr4 = the
  same per output row times the rows (a kernel called once per row), Pin = input pixels, V = valid
  (unpadded) taps summed over output pixels, R = valid kernel rows summed over output pixels, T,
  Ppad = pixels of an explicitly padded input,
  n, n2, no (n mod 2), n4, nr4 (n mod 4), nc4 = ceil(n/4), nc16 = ceil(n/16),
  c, co (c mod 2), c4, cr4, cc16 = ceil(c/16), K = T*c (columns), Ko (K mod 2: an s4 row starting mid-byte),
  K4, Kr4 (K mod 4), K16, K16r = floor((K mod 16) / 4)
  (the 4-column steps after the 16-column ones), Kc16 = ceil(K/16),
  E = elements of a glue op's output, E4 = floor(E/4), Er4 = E mod 4, Ec16 = ceil(E/16), W = window
  (pooling taps), X = inputs of a concat; a glue op's c is its channels (E / P).
A feature without an n-symbol is a per-call cost: the model weights it by the probability that the
call happens (a precision group with at least one channel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import Tensor

from cost_models.common import F64

N_SYMBOLS = frozenset({"n", "n2", "no", "n4", "nr4", "nc4", "nc16"})
COUNTED = ("n", "c", "K", "E")  # symbols derived from these vary with the architecture; the others are fixed
SYMBOLS = (
    frozenset(
        {
            "P",
            "P2",
            "Po",
            "P4",
            "Pr4",
            "Ho",
            "Q2",
            "Qo",
            "Q4",
            "Qr4",
            "Pin",
            "V",
            "R",
            "T",
            "Ppad",
            "c",
            "co",
            "c4",
            "cr4",
            "cc16",
            "K",
            "Ko",
            "K4",
            "Kr4",
            "K16",
            "K16r",
            "Kc16",
            "E",
            "E4",
            "Er4",
            "Ec16",
            "W",
            "X",
        }
    )
    | N_SYMBOLS
)


Count = Tensor | float  # an expected count (tensor, while searching) or a plain number


def floor_ste(x: Count) -> Count:
    """floor(x) forward, identity gradient backward (plain numbers: floor)."""
    if not isinstance(x, Tensor):
        return float(math.floor(x))
    return x + (torch.floor(x) - x).detach()


def ceil_ste(x: Count) -> Count:
    if not isinstance(x, Tensor):
        return float(math.ceil(x))
    return x + (torch.ceil(x) - x).detach()


@lru_cache(maxsize=4096)
def parse(feature: str) -> tuple[str, ...]:
    """A feature name as its symbols ("1" is the constant: no symbols); ValueError for an unknown symbol."""
    if feature == "1":
        return ()
    parts = tuple(feature.split("*"))
    bad = [p for p in parts if p not in SYMBOLS]
    if bad:
        raise ValueError(f"unknown symbol {bad[0]!r} in feature {feature!r} (known: {', '.join(sorted(SYMBOLS))})")
    return parts


def per_call(feature: str) -> bool:
    """Whether a feature is paid once per call (it has no output-channel symbol)."""
    return not N_SYMBOLS.intersection(parse(feature))


@dataclass
class Call:
    """One kernel call (or glue loop) in the quantities its loops count; tensors or plain numbers."""

    n: Count = 0.0  # output channels of the call
    c: Count = 0.0  # input channels of the call (depthwise: n)
    P: int = 1  # output pixels
    Ho: int = 1  # output rows
    Wo: int = 1  # output columns
    Pin: int = 1  # input pixels
    T: int = 1  # taps (kh * kw)
    V: int = 1  # valid taps summed over the output pixels
    R: int = 1  # valid kernel rows summed over the output pixels
    Ppad: int = 0  # pixels of an explicitly padded input
    E: Count = 0.0  # elements (glue)
    W: int = 1  # window (pooling)
    X: int = 1  # inputs (concat)
    _cache: dict[str, Count] = field(default_factory=dict, repr=False)

    def symbol(self, name: str) -> Count:
        if name not in self._cache:
            self._cache[name] = _symbols(self, name)
        return self._cache[name]

    def static_key(self) -> tuple[int, ...]:
        """The call's fixed counts (everything but n, c and E): what a table's features fold into constants."""
        return (self.P, self.Ho, self.Wo, self.Pin, self.T, self.V, self.R, self.Ppad, self.W, self.X)

    def feature(self, name: str) -> Count:
        """The feature's count: a plain number unless it has a tensor count in it."""
        value: Count = 1.0
        for s in parse(name):
            value = value * self.symbol(s)
        return value


def _floor(x: Count, d: int) -> Count:
    return floor_ste(x / d)


def _rem(x: Count, d: int) -> Count:
    return x - d * floor_ste(x / d)


def _symbols(call: Call, name: str) -> Count:
    """The value of one symbol for `call`."""
    P, ho, wo = call.P, call.Ho, call.Wo
    plain = {
        "P": P,
        "P2": P // 2,
        "Po": P % 2,
        "P4": P // 4,
        "Pr4": P % 4,
        "Ho": ho,
        "Q2": ho * (wo // 2),
        "Qo": ho * (wo % 2),
        "Q4": ho * (wo // 4),
        "Qr4": ho * (wo % 4),
        "Pin": call.Pin,
        "V": call.V,
        "R": call.R,
        "T": call.T,
        "Ppad": call.Ppad,
        "W": call.W,
        "X": call.X,
    }
    if name in plain:
        return float(plain[name])
    base = {"n": call.n, "c": call.c, "K": call.c * call.T, "E": call.E}[name[0]]
    return counted(base.to(F64) if isinstance(base, Tensor) else base, name)


def counted(base: Count, name: str) -> Count:
    """A counted symbol (`name` starts with n, c, K or E) from its base count, elementwise on tensors of any
    shape: so a single call (above) and every call of a network at once (latency_cortexm) share one rule."""
    rule = name[1:]
    if rule == "":
        return base
    if rule in ("2", "4", "16"):
        return _floor(base, int(rule))
    if rule == "o":
        return _rem(base, 2)
    if rule == "r4":
        return _rem(base, 4)
    if rule in ("c4", "c16"):
        return ceil_ste(base / int(rule[1:]))
    if rule == "16r":  # the 4-column steps after the 16-column ones: floor((K mod 16) / 4)
        return _floor(_rem(base, 16), 4)
    raise ValueError(f"no rule for symbol {name!r}")


def fold(coefficients: dict[str, float], call: Call) -> tuple[tuple[tuple[str, ...], float, bool], ...]:
    """A kind's features on one call's fixed counts: (varying symbols, coefficient x fixed counts, per call)
    per distinct product of varying symbols, so pricing a call multiplies only what the architecture moves."""
    folded: dict[tuple[str, ...], float] = {}
    for feature, coefficient in coefficients.items():
        varying = tuple(sym for sym in parse(feature) if sym[0] in COUNTED)
        fixed = math.prod(float(call.symbol(sym)) for sym in parse(feature) if sym[0] not in COUNTED)
        folded[varying] = folded.get(varying, 0.0) + coefficient * fixed
    return tuple((v, k, not N_SYMBOLS.intersection(v)) for v, k in folded.items() if k)
