"""Uniform fixed precision (w8 / w4 / w2, activations at act_bits): plain quantization-aware training.

For a fair comparison at equal epochs the fixed-precision network trains through the search
phase too (its single option leaves the cost constant, so that phase is plain QAT), then is
fine-tuned like every other method.
"""

from __future__ import annotations

from torch import nn

from search.context import RunContext
from search.methods import MethodResult, register_method
from search.methods.common import build_supernet
from search.methods.differentiable import calibration_batch
from search.train import search
from supernet import discretize


@register_method("uniform")
def uniform(model: nn.Module, ctx: RunContext) -> MethodResult:
    b = ctx.cfg.uniform_bits
    net = build_supernet(model, calibration_batch(ctx), ctx, bits=(b,), act_bits=ctx.cfg.act_bits[-1:])
    info = search(net, ctx, phase="qat")
    arch = discretize(net, {"method": f"uniform-w{b}", "target": ctx.target.name, "model": ctx.cfg.model})
    return MethodResult(net, arch, info)
