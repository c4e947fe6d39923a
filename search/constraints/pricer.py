"""Pricing a discrete architecture and one-group moves on it, thousands of times: what the budget repair asks.

A repair step compares one candidate move per channel group (one channel one option lower or higher) by
its cost change. Re-pricing the whole network per candidate costs tens of milliseconds on MobileNetV2
(26 groups per step, thousands of steps: a repair from 2.4 MB to 1 MB ran for minutes). A move changes
the records of the group's own layers and, when it prunes or restores a channel, the input keep of the
layers reading that channel; for a cost that is a sum over layers (cost_models.layer_terms) its change
is exactly the change of those layers' terms, priced on those few records alone, many candidates in one
batched call. A term may include deploy-plan ops that carry its layer's channels (latency_cortexm's glue:
adds, pools, requantization), so the records are priced with the plan's part they carry
(DeployPlan.carried_by); the total starts from one whole-network price, which adds what no move changes.
Costs that are not sums over layers (a planned peak RAM) are priced on the whole network per candidate
(NetworkPricer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

import cost_models
from search.pricing import layer_choices
from supernet import Architecture, Supernet
from supernet.spec import DeployPlan, LayerChoice, LayerChoices
from targets.target import Target


@dataclass(frozen=True)
class Move:
    """Set `channels` of channel group `group` (index into Layout.groups) to `bits`."""

    group: int
    channels: tuple[int, ...]
    bits: int


class Layout:
    """The channel groups of a supernet (layers sharing gates) and who reads each group's channels."""

    def __init__(self, net: Supernet) -> None:
        self.names = net.layer_names
        index = {n: i for i, n in enumerate(self.names)}
        by_gates: dict[int, list[str]] = {}
        for name in self.names:
            by_gates.setdefault(id(net.layer(name).gates), []).append(name)
        self.groups = list(by_gates.values())
        self.members = [[index[n] for n in layers] for layers in self.groups]
        info_group = [net.info.layers[layers[0]].group for layers in self.groups]
        # readers[k][layer index][channel] = positions in that layer's in_keep holding the channel of group k
        self.readers: list[dict[int, dict[int, list[int]]]] = [{} for _ in self.groups]
        position = {g: k for k, g in enumerate(info_group)}
        for name in self.names:
            for j, (g, c) in enumerate(net.info.layers[name].in_flow.entries):
                if g is not None and g in position:
                    self.readers[position[g]].setdefault(index[name], {}).setdefault(c, []).append(j)

    def touched(self, move: Move, pruning_changes: bool) -> set[int]:
        """Layers whose records a move changes: the group's, and its readers' when a channel is pruned or restored."""
        layers = set(self.members[move.group])
        if pruning_changes:
            layers |= set(self.readers[move.group])
        return layers


@dataclass
class Priced:
    """A candidate move with its cost change; `records`/`terms`: the new records and terms (LayerPricer),
    `arch`: the whole new architecture (NetworkPricer)."""

    move: Move
    delta: float
    records: dict[int, LayerChoice] | None = None
    terms: dict[int, float] | None = None
    arch: Architecture | None = None


class LayerPricer:
    """Exact incremental pricing of a cost that is a sum over layers: a move is priced on the layers it touches."""

    def __init__(self, net: Supernet, layout: Layout, arch: Architecture, cost: str, target: Target) -> None:
        self.layout, self.cost, self.target = layout, cost, target
        options = {
            n: tuple(sorted(set(net.layer(n).gates.options) | set(arch.weight_bits[n]) | {0})) for n in layout.names
        }
        self.network = layer_choices(net, arch)  # its deploy plans do not depend on the weight choices
        self.records = [_widen(c, options[c.spec.name]) for c in self.network]
        self.terms = self._terms(self.records, range(len(self.records)))
        with torch.no_grad():  # the whole network once: the terms' sum plus what no choice changes
            self.total = float(cost_models.evaluate(cost, self.network, target))

    def _terms(self, records: list[LayerChoice], layers: Sequence[int]) -> list[float]:
        """The terms of `records`, the records of network layers `layers`, with the plan ops carrying their channels."""

        def plan(flavour: str) -> DeployPlan | None:
            whole = self.network.deploy_plan(flavour)
            return whole.carried_by(layers) if whole is not None else None

        with torch.no_grad():  # as LayerChoices: the cost's parts share one stacked view of the records
            return cost_models.layer_terms(self.cost, LayerChoices(records, planner=plan), self.target).tolist()

    def touched(self, move: Move, old: tuple[int, ...]) -> set[int]:
        return self.layout.touched(move, any((old[c] == 0) != (move.bits == 0) for c in move.channels))

    def _records(self, move: Move, old: tuple[int, ...]) -> dict[int, LayerChoice]:
        """The new records of every layer the move touches."""
        records: dict[int, LayerChoice] = {}
        channels = move.channels[0] if len(move.channels) == 1 else slice(None)  # one channel, or the whole layer
        for i in self.layout.members[move.group]:
            rec = self.records[i]
            probs = rec.weight_probs.clone()
            probs[:, channels] = 0.0
            probs[rec.weight_bits.index(move.bits), channels] = 1.0
            records[i] = replace(rec, weight_probs=probs)
        flips = [c for c in move.channels if (old[c] == 0) != (move.bits == 0)]  # pruned or restored
        for i, positions in self.layout.readers[move.group].items() if flips else ():
            where = [p for c in flips for p in positions.get(c, ())]
            if where:
                rec = records.get(i, self.records[i])
                in_keep = rec.in_keep.clone()
                in_keep[where] = 0.0 if move.bits == 0 else 1.0
                records[i] = replace(rec, in_keep=in_keep)
        return records

    def price(self, moves: list[tuple[Move, tuple[int, ...]]]) -> list[Priced]:
        """Each (move, the group's bits before it) priced; one batched cost call for all of them."""
        records = [self._records(m, old) for m, old in moves]
        flat = [rec for r in records for rec in r.values()]
        values = iter(self._terms(flat, [i for r in records for i in r]) if flat else [])
        out = []
        for (move, _), r in zip(moves, records, strict=True):
            terms = {i: next(values) for i in r}
            out.append(Priced(move, sum(t - self.terms[i] for i, t in terms.items()), r, terms))
        return out

    def apply(self, priced: Priced) -> None:
        for i, rec in priced.records.items():
            self.records[i] = rec
            self.terms[i] = priced.terms[i]
        self.total += priced.delta


class NetworkPricer:
    """Whole-network pricing per candidate, for a cost that is not a sum over layers."""

    def __init__(self, net: Supernet, layout: Layout, arch: Architecture, cost: str, target: Target) -> None:
        self.net, self.layout, self.cost, self.target = net, layout, cost, target
        self.arch = arch
        self.total = price(net, arch, cost, target)

    def touched(self, move: Move, old: tuple[int, ...]) -> None:
        return None  # any move may change the whole network's cost

    def price(self, moves: list[tuple[Move, tuple[int, ...]]]) -> list[Priced]:
        out = []
        for move, _ in moves:
            arch = moved(self.arch, self.layout, move)
            out.append(Priced(move, price(self.net, arch, self.cost, self.target) - self.total, arch=arch))
        return out

    def apply(self, priced: Priced) -> None:
        self.arch = priced.arch if priced.arch is not None else moved(self.arch, self.layout, priced.move)
        self.total += priced.delta


def moved(arch: Architecture, layout: Layout, move: Move) -> Architecture:
    """`arch` with the move applied to every layer of its group (they share gates, so they share bits)."""
    layers = layout.groups[move.group]
    new = list(arch.weight_bits[layers[0]])
    for c in move.channels:
        new[c] = move.bits
    return replace(arch, weight_bits={**arch.weight_bits, **dict.fromkeys(layers, tuple(new))})


def pricer(net: Supernet, layout: Layout, arch: Architecture, cost: str, target: Target) -> LayerPricer | NetworkPricer:
    """The incremental pricer where the cost is a sum over layers, else the whole-network one."""
    kind = LayerPricer if cost_models.get(cost).terms is not None else NetworkPricer
    return kind(net, layout, arch, cost, target)


def price(net: Supernet, arch: Architecture, cost: str, target: Target) -> float:
    """Cost `cost` of `arch`, priced on the whole network (the exact check)."""
    with torch.no_grad():
        return float(cost_models.evaluate(cost, layer_choices(net, arch), target))


def _widen(choice: LayerChoice, options: tuple[int, ...]) -> LayerChoice:
    """The one-hot record over `options` (a superset of its own), so that any option can be set in place;
    float64 as the cost models compute (no conversion per pricing)."""
    f64 = torch.float64
    probs = choice.weight_probs.new_zeros(len(options), choice.weight_probs.shape[1], dtype=f64)
    for i, b in enumerate(choice.weight_bits):
        probs[options.index(b)] = choice.weight_probs[i]
    return replace(
        choice,
        weight_bits=options,
        weight_probs=probs,
        in_keep=choice.in_keep.to(f64),
        act_probs=choice.act_probs.to(f64),
        out_act_probs=choice.out_act_probs.to(f64),
    )
