"""Uniform fixed precision (w8 / w4 / w2, activations at act_bits): plain quantization-aware training.

For a fair comparison at equal epochs the fixed-precision network trains through the search
phase too (its single option leaves the cost constant, so that phase is plain QAT), then is
fine-tuned like every other method.
"""

from __future__ import annotations

from torch import nn

from search.config import SearchConfig
from search.context import RunContext
from search.methods import MethodResult, register_method
from search.methods.common import build_supernet
from search.methods.differentiable import calibration_batch
from search.train import search
from supernet import discretize

# one fixed plot style per bit-width, in the order the baselines were added
STYLES = {f"uniform-w{b}": 9 + i for i, b in enumerate((8, 4, 2, 1, 3, 5, 6, 7))}


def bits_name(cfg: SearchConfig) -> str:
    """What names a uniform point: its bit-width ('w4')."""
    return f"w{cfg.uniform_bits}"


# its points are bit-widths (a sweep's uniform_bits), so it takes no strength and no budget
def stored_bits(cfg: SearchConfig) -> tuple[int, ...]:
    """The one weight bit-width a uniform run stores (checked against the target before training)."""
    return (cfg.uniform_bits,)


@register_method(
    "uniform", reads_strength=False, points_from="uniform_bits", point_name=bits_name, style=STYLES, stores=stored_bits
)
def uniform(model: nn.Module, ctx: RunContext) -> MethodResult:
    b = ctx.cfg.uniform_bits
    net = build_supernet(model, calibration_batch(ctx), ctx, bits=(b,), act_bits=ctx.cfg.act_bits[-1:])
    info = search(net, ctx, phase="qat")
    arch = discretize(net, {"method": f"uniform-w{b}", "target": ctx.target.name, "model": ctx.cfg.model})
    return MethodResult(net, arch, info)
