"""The supernet: the traced model with gated layers, plus what cost models and discretization need."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from supernet.arch import Architecture
from supernet.gated import GatedLayer, input_keep
from supernet.gates import SAMPLING_MODES, ChannelGates, one_evaluation
from supernet.graph import Analysis
from supernet.quant import constant
from supernet.spec import DeployPlan, LayerChoice, LayerChoices, LayerSpec

# (supernet, per-layer activation bits, flavour, discrete) -> the deployed network's RAM plan, None if it
# cannot be exported; discrete: the choices are one architecture (deploy/buffers.py)
BufferPlanner = Callable[["Supernet", dict[str, int], str, bool], DeployPlan | None]

DEFAULT_OUTPUT_ACT_BITS = 8  # the network output is requantized to int8 at deployment


class Supernet(nn.Module):
    def __init__(
        self,
        net: fx.GraphModule,
        info: Analysis,
        gates: nn.ModuleDict,
        bits: tuple[int, ...],
        act_bits: tuple[int, ...],
        granularity: str,
    ) -> None:
        super().__init__()
        self.net = net
        self.gates = gates
        self.info = info
        self.bits, self.act_bits, self.granularity = bits, act_bits, granularity
        self.calibration_sample: Tensor | None = None  # a few conversion inputs (supernet/convert.py)
        # consumers[L]: layers reading L's output channels (their input quantizer sets L's output bits)
        self.consumers = {
            name: [m for m, other in info.layers.items() if m != name and layer.group in other.in_flow.groups]
            for name, layer in info.layers.items()
        }

    def forward(self, x: Tensor) -> Tensor:
        with one_evaluation():  # each gate's probabilities once per pass, however many layers read them
            return self.net(x)

    # ---- structure ---------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        return list(self.info.layers)

    @property
    def specs(self) -> dict[str, LayerSpec]:
        return {n: layer.spec for n, layer in self.info.layers.items()}

    def layer(self, name: str) -> GatedLayer:
        return self.net.get_submodule(name)

    def groups_of_layers(self) -> dict[int, list[str]]:
        """Layers whose output channels are pruned together, by group id."""
        out: dict[int, list[str]] = {}
        for name, layer in self.info.layers.items():
            out.setdefault(layer.group, []).append(name)
        return out

    def report(self) -> list[dict[str, str]]:
        """Layers that lost the pruning option (no 0-bit choice) because of an op the channel analysis
        cannot follow, or a construct it does not prune (grouped convs), with the reason: plain data for
        a run's metrics.json. The output layer and layers meeting the network input are not listed
        (they keep their channels by design)."""
        return [
            {"layer": name, "reason": self.info.lost[layer.group]}
            for name, layer in self.info.layers.items()
            if layer.group in self.info.lost
        ]

    # ---- search controls (set between steps, never during forward) ---------------------------
    def all_gates(self) -> Iterator[ChannelGates]:
        return (m for m in self.modules() if isinstance(m, ChannelGates))

    def weight_gates(self) -> list[ChannelGates]:
        """The weight gates of every layer, once each (layers of a residual group share theirs), in layer order."""
        seen: dict[int, ChannelGates] = {}
        for name in self.layer_names:
            gates = self.layer(name).gates
            seen.setdefault(id(gates), gates)
        return list(seen.values())

    def set_temperature(self, tau: float) -> None:
        for g in self.all_gates():
            g.tau.fill_(tau)

    def set_sampling(self, mode: str) -> None:
        if mode not in SAMPLING_MODES:
            raise ValueError(f"sampling mode must be one of {SAMPLING_MODES}, got {mode!r}")
        for g in self.all_gates():
            g.mode = mode

    def resample(self, generator: torch.Generator | None = None) -> None:
        for g in self.all_gates():
            g.resample(generator)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [g.alpha for g in self.all_gates()]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    # ---- what cost models see ----------------------------------------------------------------
    def layer_choices(self, arch: Architecture | None = None, plan: BufferPlanner | None = None) -> LayerChoices:
        """Per layer, the gate probabilities (soft, differentiable) or the one-hot choices of `arch`.

        plan: the exporter's RAM planner (deploy.buffers.plan_buffers), run on first use of
        `.deploy_plan(flavour)`, so that the RAM cost prices the deployed network; None: no plan (the RAM
        cost falls back to its layer-by-layer estimate). search.pricing.layer_choices passes it.
        """
        choices = self._arch_choices(arch) if arch is not None else self._live_choices()
        if plan is None:
            return LayerChoices(choices)
        discrete = arch is not None
        return LayerChoices(choices, planner=lambda flavour: plan(self, arch_act_bits(self, arch), flavour, discrete))

    @one_evaluation()
    def _live_choices(self) -> list[LayerChoice]:
        choices = []
        for name, info in self.info.layers.items():
            layer = self.layer(name)
            theta = layer.gates.probs().expand(-1, info.spec.out_channels)
            out = self.consumers[name]
            oact = self.layer(out[0]).act if out else None
            choices.append(
                LayerChoice(
                    spec=info.spec,
                    weight_bits=layer.gates.options,
                    weight_probs=theta,
                    in_keep=input_keep(layer._in_gates, theta),
                    act_bits=layer.act.options,
                    act_probs=layer.act.probs(),
                    out_act_bits=oact.options if oact else (DEFAULT_OUTPUT_ACT_BITS,),
                    out_act_probs=oact.probs() if oact else constant((1.0,), theta),
                )
            )
        return choices

    def check(self, arch: Architecture) -> None:
        """Raise ValueError (one line) if `arch` does not fit this network's structure."""
        names, given = set(self.info.layers), set(arch.weight_bits)
        if names != given:
            raise ValueError(
                f"architecture layers do not match the model: missing {sorted(names - given)[:3]}, "
                f"unknown {sorted(given - names)[:3]}"
            )
        for name, info in self.info.layers.items():
            n = len(arch.weight_bits[name])
            if n != info.spec.out_channels:
                has = info.spec.out_channels
                raise ValueError(f"architecture gives {n} channels for layer {name!r}, which has {has}")
        for g, layers in self.groups_of_layers().items():
            masks = {tuple(b > 0 for b in arch.weight_bits[n]) for n in layers}
            if len(masks) > 1:
                raise ValueError(f"layers {layers} meet at an add and must keep the same channels")
            mask = masks.pop()
            if not any(mask):
                raise ValueError(f"architecture prunes every channel of {layers}; keep at least one")
            if g in self.info.unprunable and not all(mask):
                raise ValueError(f"layers {layers} must keep all channels (they reach the output or the input)")

    def kept_channels(self, arch: Architecture) -> dict[int, list[int]]:
        """Kept channel indices of every group under `arch`."""
        return {g: arch.kept(layers[0]) for g, layers in self.groups_of_layers().items()}

    def _arch_choices(self, arch: Architecture) -> list[LayerChoice]:
        self.check(arch)
        kept_sets = {g: set(c) for g, c in self.kept_channels(arch).items()}
        ref = next(iter(self.parameters()))
        choices = []
        for name, info in self.info.layers.items():
            bits = arch.weight_bits[name]
            options = tuple(sorted(set(bits) | {0}))
            index = torch.tensor([options.index(b) for b in bits])
            probs = F.one_hot(index, len(options)).T.to(ref)
            in_keep = torch.tensor([g is None or i in kept_sets[g] for g, i in info.in_flow.entries]).to(ref)
            out = self.consumers[name]
            out_bits = arch.act_bits[out[0]] if out else DEFAULT_OUTPUT_ACT_BITS
            choices.append(
                LayerChoice(
                    info.spec,
                    options,
                    probs,
                    in_keep,
                    (arch.act_bits[name],),
                    ref.new_ones(1),
                    (out_bits,),
                    ref.new_ones(1),
                )
            )
        return choices


def arch_act_bits(net, arch: Architecture | None) -> dict[str, int]:
    """Per-layer activation bits: the architecture's, or the argmax of the searched quantizers."""
    if arch is not None:
        return dict(arch.act_bits)
    return {
        n: (a.gates.choice()[0] if a.gates is not None else a.options[0])
        for n in net.layer_names
        for a in (net.layer(n).act,)
    }
