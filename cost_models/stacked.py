"""Every layer's choices as a few float64 tensors with one row per layer: what the cost models compute on.

A cost is a sum over layers. Written as a Python loop over layers and bit options it issues a dozen
small operations per layer and option, on every search step (most of them on a GPU: one kernel launch
each). Here the channel probabilities of all layers are concatenated once and reduced per layer by one
matrix product with a constant 0/1 "segment" matrix, so a cost model is a handful of batched operations
on (L, ...) tensors whatever the network's depth. At one-hot probabilities every sum is a sum of small
integers, exact in float64, so the costs stay exact at a discrete architecture.

Per-structure constants (segment matrices, option embeddings, layer geometry) depend only on the layer
specs and option sets, and are built once per structure and device.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from supernet.spec import LayerChoice, LayerSpec

F64 = torch.float64
T = TypeVar("T")


@dataclass(frozen=True)
class Geometry:
    """Per-layer constants of one structure, as (L,) float64 tensors on one device (plus plain tuples)."""

    specs: tuple[LayerSpec, ...]
    options: tuple[int, ...]  # every layer's weight options, sorted
    layer_options: tuple[tuple[int, ...], ...]  # each layer's own weight options
    act_options: tuple[int, ...]  # every layer's input activation options, sorted
    out_act_options: tuple[int, ...]
    channel_segments: Tensor  # (sum C_out, L): 1 where output channel c belongs to layer l
    channel_slots: Tensor  # (L, max C_out) long: layer l's columns of the stacked theta, padded with sum C_out
    input_segments: Tensor  # (sum C_in, L): 1 where input channel j feeds layer l
    option_embeds: tuple[Tensor | None, ...]  # per layer (|B_l|, O) 0/1, None where the layer has all options
    act_embed: Tensor  # (sum |A_l|, O_a) stacked per-layer embeddings, rows in layer order
    act_segments: Tensor  # (L, sum |A_l|) 1 where an activation option row belongs to layer l
    out_act_embed: Tensor
    out_act_segments: Tensor
    in_unit: Tensor
    groups: Tensor
    kernel_numel: Tensor
    depthwise: Tensor  # bool
    out_positions: Tensor

    @property
    def layers(self) -> int:
        return len(self.specs)


@dataclass(frozen=True)
class Stacked:
    """The expected quantities of every layer (rows in layer order), float64, differentiable."""

    geometry: Geometry
    theta: Tensor  # (O, sum C_out): every output channel's weight-option probabilities, layer after layer
    mass: Tensor  # (L, O): expected channels at each weight option (0 where a layer has no such option)
    kept_in: Tensor  # (L,): expected kept input channels (a depthwise layer: its own kept channels)
    act: Tensor  # (L, O_a): input activation bit probabilities
    out_act: Tensor  # (L, O_o): output activation bit probabilities
    nonzero_mass: Tensor | None  # (L, O): expected non-zero weights at each option (LayerChoice.nonzeros)
    has_nonzeros: Tensor | None  # (L,) bool: the layers that gave their non-zero counts

    @property
    def options(self) -> tuple[int, ...]:
        return self.geometry.options

    def column(self, bits: Sequence[int], like: Tensor | None = None) -> Tensor:
        """A (1, len(bits)) float64 row of the given numbers, on the stack's device (made once)."""
        return constant(tuple(float(b) for b in bits), (like if like is not None else self.mass)).unsqueeze(0)

    @property
    def kept_out(self) -> Tensor:
        """(L,) expected kept output channels: the mass of every non-zero option."""
        nonzero = self.column([b > 0 for b in self.options])
        return (self.mass * nonzero).sum(1)

    @property
    def in_features(self) -> Tensor:
        """(L,) expected kept input features per position (a flattened channel spans in_unit features)."""
        return self.kept_in * self.geometry.in_unit

    @property
    def weights_per_channel(self) -> Tensor:
        """(L,) expected weights of one output channel after input pruning (depthwise: kernel_numel)."""
        g = self.geometry
        dense = self.in_features / g.groups * g.kernel_numel
        return torch.where(g.depthwise, g.kernel_numel, dense)

    def presence(self) -> Tensor:
        """(L, O) probability that at least one channel of a layer takes each option, 1 - prod_c (1 - theta):
        a precision group's kernel call happens with it (exactly 0 or 1 at one-hot gates)."""
        absent = F.pad(1 - self.theta, (0, 1), value=1.0)[:, self.geometry.channel_slots]  # (O, L, max C_out)
        return (1 - absent.prod(-1)).T

    def expected_act_bits(self) -> Tensor:
        """(L,) sum_a a * P(input activation bits = a)."""
        return (self.act * self.column(self.geometry.act_options)).sum(1)

    def expected_out_act_bits(self) -> Tensor:
        return (self.out_act * self.column(self.geometry.out_act_options)).sum(1)


def per_structure(g: Geometry, key: Hashable, build: Callable[[], T]) -> T:
    """`build()` once per structure and device (a cost model's own constants: coefficient tensors, masks);
    built outside inference mode and autograd, so the constants serve every later step."""
    cache = g.__dict__.setdefault("_constants", {})  # a frozen dataclass still has its __dict__
    if key not in cache:
        with torch.inference_mode(False), torch.no_grad():
            cache[key] = build()
    return cache[key]


def layer_constants(g: Geometry, name: str, fn: Callable[[LayerSpec], Sequence[float]]) -> Tensor:
    """(L, k) float64 tensor of fn(spec) for every layer, made once per structure (a cost model's own
    per-layer numbers: tile counts, kernel sizes); fn raises for a layer the model cannot price."""

    def build() -> Tensor:
        rows = [[float(v) for v in fn(spec)] for spec in g.specs]
        return torch.tensor(rows, dtype=F64, device=g.in_unit.device)

    return per_structure(g, name, build)


def constant(values: tuple[float, ...], like: Tensor) -> Tensor:
    """A float64 constant on `like`'s device, made once."""
    return _constant(values, like.device)


@functools.lru_cache(maxsize=512)
def _constant(values: tuple[float, ...], device: torch.device) -> Tensor:
    with torch.inference_mode(False), torch.no_grad():
        return torch.tensor(values, dtype=F64, device=device)


def structure_key(choices: Sequence[LayerChoice]) -> tuple:
    """What the per-structure constants depend on: specs and option sets of every layer."""
    return tuple((c.spec, c.weight_bits, c.act_bits, c.out_act_bits, c.in_keep.shape[0]) for c in choices)


def geometry(choices: Sequence[LayerChoice]) -> Geometry:
    return _geometry(structure_key(choices), choices[0].weight_probs.device)


def _embedding(own: Sequence[int], union: Sequence[int]) -> Tensor:
    """(|own|, |union|) 0/1: row i puts own option i at its place among `union`."""
    out = torch.zeros(len(own), len(union), dtype=F64)
    for i, b in enumerate(own):
        out[i, union.index(b)] = 1.0
    return out


def _slots(sizes: Sequence[int]) -> Tensor:
    """(len(sizes), max size) long: run l's item positions, padded with sum(sizes) (one past the last item)."""
    out = torch.full((len(sizes), max(sizes, default=0)), sum(sizes), dtype=torch.long)
    start = 0
    for i, n in enumerate(sizes):
        out[i, :n] = torch.arange(start, start + n)
        start += n
    return out


def _segments(sizes: Sequence[int]) -> Tensor:
    """(sum sizes, len(sizes)) 0/1: entry (j, l) = 1 where item j belongs to the l-th run."""
    out = torch.zeros(sum(sizes), len(sizes), dtype=F64)
    start = 0
    for i, n in enumerate(sizes):
        out[start : start + n, i] = 1.0
        start += n
    return out


@functools.lru_cache(maxsize=64)
def _geometry(key: tuple, device: torch.device) -> Geometry:
    specs = tuple(k[0] for k in key)
    options = tuple(sorted({b for k in key for b in k[1]}))
    acts = tuple(sorted({b for k in key for b in k[2]}))
    outs = tuple(sorted({b for k in key for b in k[3]}))
    with torch.inference_mode(False), torch.no_grad():
        embeds = tuple(None if k[1] == options else _embedding(k[1], options).to(device) for k in key)
        act_embed = torch.cat([_embedding(k[2], acts) for k in key]).to(device)
        out_embed = torch.cat([_embedding(k[3], outs) for k in key]).to(device)

        def per_layer(values) -> Tensor:
            return torch.tensor([float(v) for v in values], dtype=F64, device=device)

        return Geometry(
            specs=specs,
            options=options,
            layer_options=tuple(k[1] for k in key),
            act_options=acts,
            out_act_options=outs,
            channel_segments=_segments([s.out_channels for s in specs]).to(device),
            channel_slots=_slots([s.out_channels for s in specs]).to(device),
            input_segments=_segments([k[4] for k in key]).to(device),
            option_embeds=embeds,
            act_embed=act_embed,
            act_segments=_segments([len(k[2]) for k in key]).T.contiguous().to(device),
            out_act_embed=out_embed,
            out_act_segments=_segments([len(k[3]) for k in key]).T.contiguous().to(device),
            in_unit=per_layer(s.in_unit for s in specs),
            groups=per_layer(s.groups for s in specs),
            kernel_numel=per_layer(s.kernel_numel for s in specs),
            depthwise=torch.tensor([s.depthwise for s in specs], device=device),
            out_positions=per_layer(s.out_positions for s in specs),
        )


def _per_layer_probs(parts: list[Tensor], embeds: tuple[Tensor | None, ...]) -> Tensor:
    """Concatenate per-layer (|B_l|, C_l) probabilities into (O, sum C_l), each row block on the union options."""
    placed = [p if e is None else e.T @ p for p, e in zip(parts, embeds, strict=True)]
    return torch.cat(placed, dim=1) if len(placed) > 1 else placed[0]


def stack(choices: Sequence[LayerChoice]) -> Stacked:
    """The Stacked view of `choices` (cached on a LayerChoices: every cost of one step shares it)."""
    cached = getattr(choices, "_stacked", None)
    if cached is not None:
        return cached
    g = geometry(choices)
    theta = _per_layer_probs([c.weight_probs.to(F64) for c in choices], g.option_embeds)  # (O, sum C)
    mass = (theta @ g.channel_segments).T  # (L, O)
    in_keep = torch.cat([c.in_keep for c in choices]).to(F64)
    kept_in = in_keep @ g.input_segments  # (L,)
    act = g.act_segments @ (torch.cat([c.act_probs for c in choices]).to(F64).unsqueeze(1) * g.act_embed)
    out_act = g.out_act_segments @ (
        torch.cat([c.out_act_probs for c in choices]).to(F64).unsqueeze(1) * g.out_act_embed
    )
    nonzero_mass = has_nonzeros = None
    if any(c.nonzeros is not None for c in choices):  # layers without a count: 0 here, see has_nonzeros
        nnz = torch.cat(
            [c.nonzeros if c.nonzeros is not None else c.weight_probs.new_zeros(c.spec.out_channels) for c in choices]
        ).to(F64)
        nonzero_mass = ((theta * nnz) @ g.channel_segments).T
        has_nonzeros = torch.tensor([c.nonzeros is not None for c in choices], device=mass.device)
    out = Stacked(g, theta, mass, kept_in, act, out_act, nonzero_mass, has_nonzeros)
    if hasattr(choices, "__dict__"):
        choices._stacked = out
    return out


def refuse_unstorable(s: Stacked, storable: Sequence[int], target_name: str) -> None:
    """Refuse an option the target cannot store where a layer gives it probability > 0 (a one-hot
    architecture never pays for options it does not use). Reads the device only if such an option exists."""
    for i, bits in enumerate(s.options):
        if bits == 0 or bits in storable:
            continue
        used = (s.mass[:, i] > 0).nonzero().flatten().tolist()
        if used:
            name = s.geometry.specs[used[0]].name
            raise ValueError(
                f"layer {name!r} uses {bits}-bit weights but target {target_name!r} supports only {sorted(storable)}"
            )
