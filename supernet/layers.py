"""Building blocks shared by the supernet and the materialized network.

`LayerOp` is the only place that knows Conv1d vs Conv2d vs Linear: every gated or
fixed-precision layer keeps its weights as tensors and calls its op, so the mixing
logic is written once for every layer type.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from supernet.derived import derived
from supernet.gates import ChannelGates
from supernet.quant import constant, quantize_activation

_CONV_FNS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@dataclass(frozen=True)
class LayerOp:
    """The linear operation of a Conv1d/2d/3d or Linear layer, minus its parameters."""

    kind: str  # "conv" or "linear"
    dims: int = 0  # spatial dims of a conv
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] | str = ()
    dilation: tuple[int, ...] = ()
    groups: int = 1

    @classmethod
    def of(cls, module: nn.Module) -> LayerOp:
        if isinstance(module, nn.Linear):
            return cls("linear")
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            if module.padding_mode != "zeros":
                raise ValueError(f"padding_mode={module.padding_mode!r} is not supported (only 'zeros')")
            dims = len(module.kernel_size)
            return cls("conv", dims, module.stride, module.padding, module.dilation, module.groups)
        raise TypeError(f"{type(module).__name__} is not a Conv1d/Conv2d/Conv3d/Linear layer")

    def with_groups(self, groups: int) -> LayerOp:
        return replace(self, groups=groups)

    def __call__(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.kind == "linear":
            return F.linear(x, weight, bias)
        return _CONV_FNS[self.dims](x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class ActQuant(nn.Module):
    """PACT quantizer of a layer's input; its bit-width is fixed or searched among `options`.

    The clip is initialised from calibration data (see `calibrate`), and the quantizer is
    signed when the calibration data has negative values (network input, residual sums).
    """

    def __init__(self, options: tuple[int, ...], enabled: bool = True) -> None:
        super().__init__()
        self.clip = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("signed", torch.tensor(False))
        self.gates = ChannelGates(options, 1) if len(options) > 1 else None
        self.options = tuple(sorted(options))
        self.enabled = enabled

    def probs(self) -> Tensor:
        """Probabilities over `options`, shape (|A|,)."""
        if self.gates is None:
            return constant((1.0,), self.clip)  # one option: made once, not per call
        return self.gates.probs()[:, 0]

    def forward(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        clip = self.clip.abs() + 1e-8  # keep the grid valid if the optimizer pushes clip through 0
        signed = derived(self, "_signed", (self.signed,), lambda: bool(self.signed))  # read once per change
        if self.gates is None:
            return quantize_activation(x, clip, self.options[0], signed)
        p = self.probs()
        return sum(p[i] * quantize_activation(x, clip, b, signed) for i, b in enumerate(self.options))

    def extra_repr(self) -> str:
        return f"options={self.options}, enabled={self.enabled}"
