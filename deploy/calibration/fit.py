"""Fit a latency table to measured samples: per kernel kind, non-negative least squares on relative error.

Each kind has a list of candidate features (cost_models/cortexm_features.py) that follow how its CMSIS-NN
kernel loops on a DSP or a Helium core (the source files are named below). The fit minimises the sum of
squared *relative* errors (a 200-instruction glue loop counts as much as a 2 M-instruction convolution,
so small networks are priced as well as large ones), with every coefficient >= 0 (every loop costs
something), and keeps the features it needs, chosen greedily (at least 3 samples per coefficient, at most
12 features) among those of the core's code path. Remainder features (an odd channel count taking a
kernel's slower one-channel path) make the cost step where the kernel does: not every extra channel costs
more, but every extra channel pair does.
The fit is deterministic: the same samples give the same table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from cost_models.cortexm_calls import KINDS
from cost_models.cortexm_features import per_call
from deploy.calibration.samples import Sample

# Leading features first. Sources: CMSIS-NN Source/ConvolutionFunctions and NNSupportFunctions.
# The feature tables keep a row per kernel loop, as in the CMSIS-NN source they follow:
# fmt: off
_CONV = ("1", "P", "P*T", "V", "V*c", "P*K", "P*K4", "P*Kr4", "P2", "P2*n*K4", "P2*n*Kr4", "P2*n", "P2*no*K4",
         "P2*no*Kr4", "P2*no", "Po", "Po*n*K4", "Po*n*Kr4", "Po*n",  # arm_convolve_s8/_s4, mat_mult_kernel_s8_s16
         "P*T*cc16", "V*cc16", "P4", "P4*n", "P4*n*Kc16", "Pr4", "Pr4*n", "Pr4*n*Kc16", "n*Kc16",  # Helium
         "n*K", "no*P*K", "V*c4", "V*cr4", "P*T*c4", "P*T*cr4", "P*n*Ko", "P*Ko")  # newlib memcpy: words, bytes
_NT_T = ("1", "n*c", "no*c", "P2*n*K16", "P2*n*K16r", "P2*n*Kr4", "P2*n", "Po*n*K16", "Po*n*K16r", "Po*n*Kr4",
         "Po*n", "no*P*c", "no*P", "P2", "P", "n",  # arm_convolve_1x1_*_fast -> arm_nn_mat_mult_nt_t_s8/_s4
         "P4*n*Kc16", "P4*n", "Pr4*n*Kc16", "Pr4*n", "n*Kc16", "P4", "P*c", "P*cc16", "P*n*Ko", "n*Ko", "n*K",
         "P*n*K4", "P*n*Kr4", "P2*n4*K16", "P2*nr4*K16", "P2*n4", "P2*nr4", "Po*n4*K16", "Po*nr4*K16",
         "P2*nr4*K16r", "Po*nr4*K16r")  # s4: 4 weight rows per block
_STRIDED = ("1", "Ho", "Ho*n*c", "Ho*no*c", "Q2*n*K16", "Q2*n*K16r", "Q2*n*Kr4", "Q2*n", "Qo*n*K16", "Qo*n*K16r",
            "Qo*n*Kr4", "Qo*n", "no*P*c", "no*P", "Q4*n*Kc16", "Q4*n", "Qr4*n*Kc16", "Qr4*n", "Ho*n*Kc16", "P*c",
            "Ho*n")  # arm_convolve_1x1_s8/_s4: arm_nn_mat_mult_nt_t_s8/_s4 once per output row
_FC = ("1", "K", "K4", "Kr4", "n", "n*K", "n*K4", "n*Kr4", "n*K16", "n*K16r", "n*Kc16", "no*K", "no", "n*Ko", "Ko",
       "K16", "Kc16", "no*K4", "n4*K16", "n4*K16r", "n4*Kr4", "n4", "nr4*K16", "nr4*K16r", "nr4*Kr4", "nr4",
       "nr4*K")  # a Linear layer: one im2col column (s8), one lhs row in 4-row blocks of weights (s4)
_DW = ("1", "P", "V", "P*n", "V*n", "R*n", "P*n4", "V*n4", "P*nr4", "V*nr4", "P*T", "P*T*n", "P*n4*T", "P*nr4*T",
       "P*T*cc16", "V*cc16", "P4*nc4*T", "P4*nc4", "Pr4*nc4*T", "Pr4*nc4", "V*no", "P*no", "no*P*n", "no*V*n",
       "no*R*n")  # arm_depthwise_conv_3x3_s8, _s8_opt (DSP: 4 channels per step; Helium: 4 pixels x 4 lanes);
#                   arm_depthwise_conv_s8 / _s4 (per channel, or per channel pair when the count is even)
# fmt: on
_COPY = ("1", "P", "P*n", "P*n4", "P*nr4", "P*no")  # model.c's memcpy per pixel (inlined by gcc for few bytes)
_POOL = ("1", "P", "P*W", "E*W", "E", "P*W*cc16", "P*cc16", "E4*W")  # arm_avgpool_s8 / arm_max_pool_s8
_ELEMENTWISE = ("1", "E", "E4", "Er4", "Ec16")  # arm_elementwise_add_s8; requantize / clamp / affine loops
CANDIDATES: dict[str, tuple[str, ...]] = {
    "conv_s8": _CONV,
    "conv_s4": _CONV,
    "conv1x1_s8": _NT_T,
    "conv1x1_s4": _NT_T,
    "conv1x1s_s8": _STRIDED,
    "conv1x1s_s4": _STRIDED,
    "fc_s8": _FC,
    "fc_s4": _FC,
    "dw3x3_s8": _DW,
    "dwopt_s8": _DW,
    "dw_s8": _DW,
    "dw_s4": _DW,
    "scatter": _COPY,
    "gather": ("1", "Pin", "Pin*n", "Pin*n4", "Pin*nr4"),
    "pad": ("1", "Pin", "Pin*n", "Ppad*n", "Pin*n4"),
    "add": _ELEMENTWISE,
    "avgpool": _POOL,
    "maxpool": _POOL,
    "requant": _ELEMENTWISE,
    "clamp": _ELEMENTWISE,
    "affine": _ELEMENTWISE,
    "concat": ("1", "P*X", "E", "E4", "X"),
    "network": ("1", "E"),
}
# Loop shapes of one code path only: Helium handles 4 rows (pixels) per pass and 16 bytes per vector, the DSP
# path 2 pixels per pass; a core's fit uses the features of its own path.
OTHER_PATH = {
    "dsp": frozenset({"P4", "Pr4", "Q4", "Qr4", "Kc16", "cc16", "Ec16", "nc4", "nc16"}),
    "mve": frozenset({"P2", "Po", "Q2", "Qo"}),
}
SAMPLES_PER_COEFFICIENT = 3
MAX_FEATURES = 12
MIN_GAIN = 0.02  # a feature must lower the relative RMS error by 2% of itself
DIGITS = 6  # significant digits kept in the table


@dataclass(frozen=True)
class KindFit:
    coefficients: dict[str, float]
    samples: int
    median_error: float  # relative, over this kind's samples
    max_error: float


def _round(x: float) -> float:
    return float(f"{x:.{DIGITS}g}")


def design(samples: Sequence[Sample], features: Sequence[str]) -> np.ndarray:
    """(samples, features) matrix of feature values; per-call features are 0 for calls without channels."""
    rows = []
    for s in samples:
        call = s.to_call()
        present = (
            1.0
            if s.kind in ("network", "add", "avgpool", "maxpool", "requant", "clamp", "affine", "concat") or call.n > 0
            else 0.0
        )
        rows.append([float(call.feature(f)) * (present if per_call(f) else 1.0) for f in features])
    return np.asarray(rows, dtype=np.float64)


def predict(coefficients: dict[str, float], samples: Sequence[Sample]) -> np.ndarray:
    features = list(coefficients)
    return design(samples, features) @ np.array([coefficients[f] for f in features])


def _nnls(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative coefficients minimising the relative squared error of a @ x against y."""
    weight = 1.0 / np.maximum(y, 1.0)
    scale = np.maximum(np.abs(a).max(axis=0), 1e-12)  # columns of one size: a well-conditioned problem
    x, _ = nnls(a / scale * weight[:, None], y * weight, maxiter=50 * a.shape[1])
    return x / scale


def _rms(a: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(((a @ x - y) / np.maximum(y, 1.0)) ** 2)))


def candidates(kind: str, path: str) -> list[str]:
    """The candidate features of `kind` on a core of CMSIS-NN code path `path` ("dsp" or "mve")."""
    return [f for f in CANDIDATES[kind] if not OTHER_PATH[path].intersection(f.split("*"))]


def fit_kind(kind: str, samples: Sequence[Sample], path: str = "dsp") -> KindFit:
    """Coefficients of one kind: features added one at a time (the one that lowers the relative RMS error
    most), while each lowers it by more than MIN_GAIN and there are SAMPLES_PER_COEFFICIENT samples per
    coefficient; non-negative least squares on relative error."""
    features = candidates(kind, path)
    y = np.array([s.instructions for s in samples], dtype=np.float64)
    a = design(samples, features)
    chosen: list[int] = []
    x = np.zeros(0)
    best = float(np.sqrt(np.mean(np.ones_like(y))))  # no feature: every call predicted 0
    limit = min(MAX_FEATURES, max(1, len(samples) // SAMPLES_PER_COEFFICIENT))
    while len(chosen) < limit:
        trials = []
        for j in range(len(features)):
            if j in chosen or not np.any(a[:, j]):
                continue
            cols = [*chosen, j]
            xj = _nnls(a[:, cols], y)
            trials.append((_rms(a[:, cols], xj, y), j, xj))
        if not trials:
            break
        rms, j, xj = min(trials, key=lambda t: (t[0], t[1]))
        if best - rms <= MIN_GAIN * best:
            break
        chosen, x, best = [*chosen, j], xj, rms
    coefficients = {features[j]: _round(v) for j, v in zip(chosen, x, strict=True) if v > 0}
    err = np.abs(predict(coefficients, samples) - y) / np.maximum(y, 1.0) if coefficients else np.ones_like(y)
    return KindFit(coefficients, len(samples), float(np.median(err)), float(err.max()))


def fit_samples(samples: Sequence[Sample], path: str) -> dict[str, KindFit]:
    """One KindFit per kind present in `samples` (measured on a core of code path `path`), in KINDS order."""
    by_kind: dict[str, list[Sample]] = {}
    for s in samples:
        by_kind.setdefault(s.kind, []).append(s)
    return {kind: fit_kind(kind, by_kind[kind], path) for kind in KINDS if kind in by_kind}
