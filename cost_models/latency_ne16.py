"""NE16 latency (GAP9's neural engine): weight bits cost cycles in proportion, activations are 8-bit.

The cycle model is PLiNIO's NE16 model (eml-eda/plinio, plinio/cost/ne16_latency.py,
`Ne16PerfModel`, Apache-2.0, by B. A. Motetti), the hardware model of the seed paper
(Motetti et al., arXiv 2407.01054). Its facts, rewritten here in closed form:

- The engine computes output tiles of 3x3 pixels x 32 channels (depthwise: 16 channels) from
  input tiles of 5x5 pixels x 16 channels; activations enter and leave at 8 bits through a
  256-bit/cycle memory port; a FIFO costs 6 cycles per hand-over.
- Weights are streamed bit-serially: in 3x3 mode the matrix-vector step of a tile costs
  6 + k * w_bits cycles for k output channels; in 1x1 mode (and for linear layers) 6 + k.
- Per output tile: load (3x3: 6 + 25 * ceil(16*8/256) = 31; 1x1: 10 + 9 * 1 = 19), weight
  offset 6 (depthwise 6 + k), update 2, normalisation/quantisation 9 + ceil(k * 4 / 4) (32-bit
  scales, 4 multipliers; no shift or bias stage) and stream-out 3 + 9 * ceil(32*8/256) + 1 = 13.
  A dense conv repeats load/offset/matvec/update for each of ceil(Ki / 16) input-channel tiles.
- Kernels other than 3x3 or 1x1 are split into (kh // 3) * (kw // 3) 3x3 passes plus
  (kh % 3) * kw + (kw % 3) * kh - (kh % 3) * (kw % 3) 1x1 passes (PLiNIO's
  `Ne16PerfModel_generalized`); depthwise convs must be 3x3.

Summed over the ceil(Ko / 32) channel tiles of a layer with Ko output channels, the per-tile
terms give, per (ceil(H/3) * ceil(W/3)) spatial tiles,
  dense:     ceil(Ko/32) * (n_in * (load + 6 + 6 + 2) + 9 + 13) + Ko * (n_in * m + 1),
             n_in = ceil(Ki/16), m = w_bits (3x3 pass) or 1 (1x1 pass)
  depthwise: ceil(Ko/16) * (load + 6 + 6 + 2 + 9 + 13) + Ko * (1 + w_bits + 1)
which equals PLiNIO's body + remainder sum at integer Ko. A layer with mixed per-channel bits
runs one NE16 job per precision group (PLiNIO sums the per-precision latencies the same way),
Ko being that group's expected channel count; 0-bit channels cost nothing. The tile geometry
and cycle constants are target.params (see targets/devices/gap9_ne16.toml), defaults above.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cost_models.common import ceil_ste, param, zero
from cost_models.registry import for_family, register
from cost_models.stacked import Stacked, layer_constants, refuse_unstorable, stack
from supernet.spec import LayerChoice, LayerSpec
from targets.target import Target

ACT_BITS = 8  # NE16 (as modelled) reads and writes 8-bit activations


def _consts(target: Target) -> dict[str, float]:
    keys = {
        "tile_h": 3,
        "tile_w": 3,
        "tile_k_out": 32,
        "tile_k_in": 16,
        "fifo_cycles": 6,
        "update_cycles": 2,
        "memory_bits_per_cycle": 256,
        "normquant_setup_cycles": 9,
        "normquant_cycles_per_channel": 1,
        "load_1x1_setup_cycles": 10,
        "streamout_setup_cycles": 4,
    }
    return {k: param(target, k, v) for k, v in keys.items()}


def _spatial_tiles(c: dict[str, float], height: int, width: int) -> int:
    return -(-height // int(c["tile_h"])) * -(-width // int(c["tile_w"]))


def _load(c: dict[str, float], one_by_one: bool) -> float:
    beats = -(-int(c["tile_k_in"]) * ACT_BITS // int(c["memory_bits_per_cycle"]))
    if one_by_one:
        return c["load_1x1_setup_cycles"] + c["tile_h"] * c["tile_w"] * beats
    return c["fifo_cycles"] + (c["tile_h"] + 2) * (c["tile_w"] + 2) * beats


def _streamout(c: dict[str, float]) -> float:
    beats = -(-int(c["tile_k_out"]) * ACT_BITS // int(c["memory_bits_per_cycle"]))
    return c["streamout_setup_cycles"] + c["tile_h"] * c["tile_w"] * beats


def dense_pass(c: dict[str, float], ko: Tensor, ki: Tensor, wbits: Tensor | int, one_by_one: bool) -> Tensor:
    """Cycles of one 3x3 (or 1x1) pass over one spatial tile for ko output channels of ki inputs."""
    n_in = ceil_ste(ki / c["tile_k_in"])
    per_tile = n_in * (_load(c, one_by_one) + 2 * c["fifo_cycles"] + c["update_cycles"])
    per_tile = per_tile + c["normquant_setup_cycles"] + _streamout(c)
    per_channel = n_in * (1 if one_by_one else wbits) + c["normquant_cycles_per_channel"]
    return ceil_ste(ko / c["tile_k_out"]) * per_tile + ko * per_channel


def depthwise_pass(c: dict[str, float], ko: Tensor, wbits: Tensor | int) -> Tensor:
    """Cycles of one 3x3 depthwise pass over one spatial tile for ko channels."""
    fixed = _load(c, False) + 2 * c["fifo_cycles"] + c["update_cycles"] + c["normquant_setup_cycles"] + _streamout(c)
    return ceil_ste(ko / c["tile_k_in"]) * fixed + ko * (1 + wbits + c["normquant_cycles_per_channel"])


def kernel_passes(kh: int, kw: int) -> tuple[int, int]:
    """(3x3 passes, 1x1 passes) that cover a kh x kw kernel (PLiNIO's decomposition)."""
    return (kh // 3) * (kw // 3), (kh % 3) * kw + (kw % 3) * kh - (kh % 3) * (kw % 3)


def _shape(spec: LayerSpec) -> tuple[int, int, int, int]:
    """(height, width, kh, kw) of a layer NE16 can run; refuses the others (one line naming the layer)."""
    if spec.kind == "linear":
        return 1, 1, 1, 1
    if len(spec.out_spatial) not in (1, 2) or len(spec.kernel_size) != len(spec.out_spatial):
        raise ValueError(f"layer {spec.name!r}: the NE16 model handles Conv1d/Conv2d/Linear with out_spatial")
    height, width = (1, *spec.out_spatial)[-2:]
    kh, kw = (1, *spec.kernel_size)[-2:]
    if spec.groups > 1 and not spec.depthwise:
        raise ValueError(f"layer {spec.name!r}: the NE16 model handles dense and depthwise convs, not groups")
    if spec.depthwise and (kh, kw) != (3, 3):
        raise ValueError(f"layer {spec.name!r}: NE16 depthwise convs must be 3x3, got {kh}x{kw}")
    return height, width, kh, kw


def layer_cycles(choice: LayerChoice, target: Target) -> Tensor:
    """Expected NE16 cycles of one layer: one job per weight precision group."""
    return _cycles(stack([choice]), target).sum()


def _cycles(s: Stacked, target: Target) -> Tensor:
    """(L, O) expected cycles of every layer's job at each weight option (0 for the 0-bit option)."""
    c = _consts(target)
    for i, a in enumerate(s.geometry.act_options):  # reads the device only when such an option exists
        if a != ACT_BITS and bool((s.act[:, i] > 0).any()):
            name = s.geometry.specs[int((s.act[:, i] > 0).nonzero()[0])].name
            raise ValueError(f"layer {name!r}: the NE16 model takes 8-bit activations only, not {a}-bit")

    def per_layer(spec: LayerSpec) -> tuple[float, ...]:
        height, width, kh, kw = _shape(spec)
        n3, n1 = kernel_passes(kh, kw)
        return _spatial_tiles(c, height, width), n3, n1, spec.depthwise

    key = "ne16:" + repr(sorted(c.items()))  # the tile geometry is target data
    tiles, n3, n1, depthwise = layer_constants(s.geometry, key, per_layer).unbind(1)
    ko, ki = s.mass, s.in_features.unsqueeze(1)  # (L, O), (L, 1)
    wbits = s.column(s.options)
    tiles, n3, n1, depthwise = (t.unsqueeze(1) for t in (tiles, n3, n1, depthwise))
    dense = n3 * tiles * dense_pass(c, ko, ki, wbits, one_by_one=False)
    dense = dense + n1 * tiles * dense_pass(c, ko, ki, wbits, one_by_one=True)
    cycles = torch.where(depthwise > 0, tiles * depthwise_pass(c, ko, wbits), dense)
    return cycles * s.column([b > 0 for b in s.options])  # 0-bit channels cost nothing


def ne16_terms(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected NE16 cycles of every layer, shape (L,)."""
    if not choices:
        return zero(choices).new_zeros(0)
    s = stack(choices)
    refuse_unstorable(s, tuple(target.storage_bits), target.name)
    return _cycles(s, target).sum(1)


@register("latency_ne16", unit="cycles", applies_to=for_family("ne16"), terms=ne16_terms)
def latency_ne16(choices: Sequence[LayerChoice], target: Target) -> Tensor:
    """Expected NE16 cycles: pruning and fewer weight bits both save cycles (8-bit activations)."""
    return ne16_terms(choices, target).sum()
