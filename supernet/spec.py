"""What a cost model sees of one searchable layer: its shape and its gate probabilities.

The supernet produces these records from its live gates (soft probabilities) and
from a discrete architecture (one-hot probabilities), so one cost function serves
both the search and the exact cost of the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from torch import Tensor


@dataclass(frozen=True)
class LayerSpec:
    """Static shape of a Conv1d/Conv2d/Linear layer in the original (unpruned) network.

    `in_channels` counts the producer's channels; for a Linear layer fed by a flatten,
    each input channel spans `in_unit` features (H*W), so in_features = in_channels * in_unit.
    """

    name: str
    kind: str  # "conv" or "linear"
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...] = ()
    groups: int = 1
    in_unit: int = 1
    in_spatial: tuple[int, ...] = ()
    out_spatial: tuple[int, ...] = ()
    has_bias: bool = True
    # conv geometry per spatial dim (padding: zeros added before each dim); () when unknown (hand-built
    # specs), then latency models infer it from the spatial sizes (`geometry`)
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "linear"):
            raise ValueError(f"LayerSpec.kind must be 'conv' or 'linear', got {self.kind!r}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{self.name}: channels not divisible by groups={self.groups}")

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels == self.out_channels

    @property
    def kernel_numel(self) -> int:
        return math.prod(self.kernel_size) if self.kernel_size else 1

    @property
    def out_positions(self) -> int:
        """Output pixels (conv) or 1 (linear): how often each weight is used per inference."""
        return math.prod(self.out_spatial) if self.out_spatial else 1

    def geometry(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(stride, padding before, dilation) per spatial dim, inferred where the spec leaves them out:
        stride = in / out rounded, dilation 1, padding half of what the output size needs (PyTorch's
        symmetric padding); sizes unknown: stride 1, no padding."""
        ks = self.kernel_size
        known = len(self.in_spatial) == len(self.out_spatial) == len(ks)
        ins, outs = (self.in_spatial, self.out_spatial) if known else ((0,) * len(ks), (0,) * len(ks))
        stride = self.stride or tuple(max(1, round(i / o)) if o else 1 for i, o in zip(ins, outs, strict=True))
        dilation = self.dilation or (1,) * len(ks)
        if self.padding:
            return tuple(stride), tuple(self.padding), tuple(dilation)
        need = [
            max(0, (o - 1) * st + d * (k - 1) + 1 - i) if o else 0
            for i, o, k, st, d in zip(ins, outs, ks, stride, dilation, strict=True)
        ]
        return tuple(stride), tuple(-(-n // 2) for n in need), tuple(dilation)

    @property
    def weights_per_channel(self) -> int:
        """Weights of one output channel when nothing is pruned."""
        return self.in_channels // self.groups * self.in_unit * self.kernel_numel


@dataclass(frozen=True)
class LayerChoice:
    """A layer together with the (possibly soft) choices the search made for it.

    weight_probs[i, c] is the probability that output channel c uses weight_bits[i]
    bits (0 = pruned); columns sum to 1. in_keep[j] is the probability that input
    channel j survives pruning (1 for unsearchable producers). act_probs/out_act_probs
    are probabilities over the input/output activation bit options.
    For a depthwise layer in_keep equals its own keep probabilities (it shares the
    producer's gates), so cost models must not count input pruning a second time.
    """

    spec: LayerSpec
    weight_bits: tuple[int, ...]
    weight_probs: Tensor
    in_keep: Tensor
    act_bits: tuple[int, ...]
    act_probs: Tensor
    out_act_bits: tuple[int, ...]
    out_act_probs: Tensor
    # non-zero integer weights per output channel (over its kept inputs), for sparse storage formats
    # (cost_models/size_sparse.py); None: every weight counts as non-zero
    nonzeros: Tensor | None = None

    @property
    def keep(self) -> Tensor:
        """Probability that each output channel is kept (not 0 bits)."""
        if 0 in self.weight_bits:
            return 1.0 - self.weight_probs[self.weight_bits.index(0)]
        return self.weight_probs.sum(0)


@dataclass(frozen=True)
class Buffer:
    """One activation buffer of one inference (batch 1)."""

    first: int  # index of the op that writes it (-1: the network input)
    last: int  # index of the last op that reads it (n_ops: the network output, read by the host)
    channels: int  # channels when nothing is pruned
    per_channel: int  # elements per channel (pixels, or features of a flattened channel)
    source: int | None  # index of the layer (in layer order) whose kept channels it has; None: all kept
    bits_from: int | None  # index of the layer whose input activation bits set its width; None: `bits`
    bits: int  # the width when bits_from is None, else an offset added to that layer's bits


@dataclass(frozen=True)
class GlueOp:
    """A deployed op besides the layers' kernel calls (add, pooling, requantization, clamp, copy, ...).

    Its output holds `channels` x `per_channel` values when nothing is pruned; `source` is the layer whose
    kept channels it carries (None: all kept); `window` the input values read per output value (pooling
    taps); `inputs` the tensors it reads. Latency models price these from the expected kept channels.
    """

    kind: str
    channels: int
    per_channel: int
    source: int | None
    window: int = 1
    inputs: int = 1  # tensors it reads (a concat's parts)


@dataclass(frozen=True)
class DeployPlan:
    """The activation RAM (and glue ops) a deployment flavour allocates, as a function of the choices.

    Made by the exporter's planner (deploy/buffers.py) for one flavour, read by the RAM cost
    (cost_models/activation_ram.py), so that the cost is the bytes the generated C allocates: every
    buffer's bytes rounded up to `align`, the largest sum alive at one op, plus `scratch(choices)`
    (kernel and precision-group scratch, differentiable; None: none). `place(sizes)`, given for a
    discrete architecture, is the arena the exporter's placement gives those integer buffer sizes
    (more than the peak when placement fragments), so the cost is the arena exactly. `ops` are the
    network's glue ops, for latency models.
    """

    flavour: str
    buffers: tuple[Buffer, ...]
    align: int = 1
    scratch: Callable[[Sequence[LayerChoice]], Tensor] | None = None
    place: Callable[[list[int]], int] | None = None
    ops: tuple[GlueOp, ...] = ()

    def carried_by(self, layers: Sequence[int]) -> DeployPlan:
        """The glue ops carrying the kept channels of `layers` (layer indices; an op of layers[p] gets source p),
        without buffers: the part of the plan that per-layer cost terms of those layers' records price, when a
        few layers of a network are priced alone (the budget repair's moves)."""
        ops = tuple(replace(op, source=p) for p, layer in enumerate(layers) for op in self._by_source.get(layer, ()))
        return DeployPlan(self.flavour, (), self.align, ops=ops)

    @cached_property
    def _by_source(self) -> dict[int, tuple[GlueOp, ...]]:
        out: dict[int, list[GlueOp]] = {}
        for op in self.ops:
            if op.source is not None:
                out.setdefault(op.source, []).append(op)
        return {k: tuple(v) for k, v in out.items()}


class LayerChoices(list):
    """Every layer's LayerChoice in layer order, plus the deployed network's RAM plan when known.

    `deploy_plan(flavour)` (a DeployPlan from the exporter's planner deploy/buffers.py) lets the RAM
    cost count what the deployed network allocates; None (hand-built lists, networks the exporter
    cannot handle) leaves the RAM cost with its layer-by-layer estimate. The planner runs on first
    use for each flavour, so searches that never price RAM never plan.
    """

    def __init__(self, choices=(), planner: Callable[[str], DeployPlan | None] | None = None) -> None:
        super().__init__(choices)
        self._planner = planner
        self._plans: dict[str, DeployPlan | None] = {}

    def deploy_plan(self, flavour: str) -> DeployPlan | None:
        """The RAM plan of `flavour` for these choices (None without a planner or an exportable network)."""
        if self._planner is None:
            return None
        if flavour not in self._plans:
            self._plans[flavour] = self._planner(flavour)
        return self._plans[flavour]
