"""What the search prices: a supernet's layer choices together with the exporter's buffer plan.

The RAM cost must price the network the exporter deploys, so every search-side caller of the cost
models takes its LayerChoices from here rather than from `Supernet.layer_choices` directly (which,
below the exporter in the package order, cannot plan buffers on its own).
"""

from __future__ import annotations

from deploy.buffers import forget_plans, plan_buffers, price_as_exported
from supernet import Architecture, Supernet
from supernet.spec import LayerChoices

__all__ = ["forget_plans", "layer_choices", "price_as_exported"]


def layer_choices(net: Supernet, arch: Architecture | None = None) -> LayerChoices:
    """The live (soft) or one-hot (`arch`) choices of `net`, with the deployed buffers on first use."""
    return net.layer_choices(arch, plan=plan_buffers)
