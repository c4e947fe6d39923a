"""Uniform fixed precision (w8 / w4 / w2, activations at act_bits): plain quantization-aware training."""

from __future__ import annotations

from torch import nn

from search.context import RunContext
from search.methods import MethodResult, register_method
from search.methods.differentiable import calibration_batch
from supernet import discretize, to_supernet


@register_method("uniform")
def uniform(model: nn.Module, ctx: RunContext) -> MethodResult:
    b = ctx.cfg.uniform_bits
    net = to_supernet(model, calibration_batch(ctx), bits=(b,), act_bits=ctx.cfg.act_bits[-1:])
    arch = discretize(net, {"method": f"uniform-w{b}", "target": ctx.target.name, "model": ctx.cfg.model})
    return MethodResult(net, arch, {})
