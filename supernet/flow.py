"""The records of the channel analysis: which group channel each tensor channel carries, and which groups
cannot be pruned (and why).

A `Flow` lists, for every channel of a tensor (dim 1, or the channel dims of a tensor in the middle
of a channel shuffle), the (group, index) it carries: a channel permutation or selection is just a
reordered or shorter list, so consumers and materialization see the right channels. `Analysis`
unites groups that must be pruned together (union-find) and remembers, per group, why it must keep
all its channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from supernet.spec import LayerSpec

Entry = tuple[int | None, int]  # (group, channel index in the group); (None, i) = an unsearched channel


class UnsupportedModelError(ValueError):
    """The model cannot be converted; the message names the node/module and why."""


@dataclass(frozen=True)
class Flow:
    """Channel layout of a tensor and how many features each channel spans (`unit`, after a flatten).

    block: the shape of the channel dims when the channels span several dims (between the view and the
    view back of a channel shuffle); () means the usual single dim 1. origin/positions: for such a
    block, the fx node whose channels it rearranges and, per entry, the channel of `origin` it holds.
    dirty: non-empty when a pruned channel is *not* zero here (after a sigmoid or a standalone BN):
    harmless if it only multiplies a channel pruned with it (squeeze-excitation), fatal anywhere else.
    """

    entries: tuple[Entry, ...]
    unit: int = 1
    block: tuple[int, ...] = ()
    origin: str | None = None
    positions: tuple[int, ...] = ()
    dirty: str = ""

    @classmethod
    def of_group(cls, group: int | None, n: int) -> Flow:
        return cls(tuple((group, i) for i in range(n)))

    @property
    def channels(self) -> int:
        return len(self.entries)

    @property
    def groups(self) -> list[int]:
        """Searched groups present, in first-seen order."""
        return list(dict.fromkeys(g for g, _ in self.entries if g is not None))

    @property
    def segments(self) -> tuple[tuple[int | None, int, int], ...]:
        """Runs (group, first index, length) of consecutive channels of one group, in order."""
        runs: list[list] = []
        for g, i in self.entries:
            if runs and runs[-1][0] == g and (g is None or runs[-1][1] + runs[-1][2] == i):
                runs[-1][2] += 1
            else:
                runs.append([g, i if g is not None else 0, 1])
        return tuple((g, s, n) for g, s, n in runs)

    def clean(self) -> Flow:
        return replace(self, dirty="")

    def select(self, positions: list[int] | tuple[int, ...]) -> Flow:
        """The channels at `positions` (a permutation or a subset), in that order."""
        return Flow(tuple(self.entries[p] for p in positions), self.unit, dirty=self.dirty)


@dataclass(frozen=True)
class Route:
    """A node whose output channel p is channel positions[p] of node `source` (shuffle, chunk, slice)."""

    source: str
    positions: tuple[int, ...]
    source_flow: Flow


@dataclass
class LayerNode:
    name: str  # module path in the original model
    node: str  # fx node name
    spec: LayerSpec
    group: int
    in_flow: Flow
    bn: str | None = None  # module path of the BatchNorm folded into this layer


@dataclass
class Analysis:
    strict: bool = True
    layers: dict[str, LayerNode] = field(default_factory=dict)
    group_sizes: dict[int, int] = field(default_factory=dict)
    unprunable: set[int] = field(default_factory=set)
    parent: dict[int, int] = field(default_factory=dict)
    lost: dict[int, str] = field(default_factory=dict)  # group -> why the analysis could not follow it
    routes: dict[str, Route] = field(default_factory=dict)  # fx node name -> route

    def new_group(self, size: int) -> int:
        g = len(self.group_sizes)
        self.group_sizes[g], self.parent[g] = size, g
        return g

    def root(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def unite(self, a: int | None, b: int | None) -> None:
        if a is None or b is None:  # meeting an unsearchable tensor: cannot drop the channel
            self.unprunable.update(x for x in (a, b) if x is not None)
            return
        self.parent[self.root(a)] = self.root(b)

    def mark(self, flow: Flow | None, reason: str = "") -> None:
        """Every group in `flow` keeps all its channels; `reason` set = the analysis lost track of them."""
        if flow is None:
            return
        self.unprunable.update(flow.groups)
        if reason:
            for g in flow.groups:
                self.lost.setdefault(g, reason)

    def cannot_follow(self, reason: str, flows: list[Flow | None]) -> None:
        """Strict: refuse the model. Otherwise the groups reaching this op keep their channels (bits only)."""
        if self.strict and any(f is not None and f.groups for f in flows):
            raise UnsupportedModelError(
                f"cannot follow pruned channels: {reason}; supported: conv/linear, BatchNorm, activations, "
                "pooling, dropout, stochastic depth, add, mul, cat(dim=1), chunk/split/slice(dim=1), "
                "flatten, channel shuffle (exclude the layers feeding it with exclude=..., or pass "
                "strict=False to search only their bits)"
            )
        for f in flows:
            self.mark(f, reason)

    def sink(self, flow: Flow | None, where: str) -> Flow | None:
        """`flow` enters something that uses every channel's value: a dirty flow's groups keep their channels."""
        if flow is not None and flow.dirty:
            self.mark(flow, f"{flow.dirty} (a pruned channel would not stay zero) reaches {where}")
            return flow.clean()
        return flow

    def unite_flows(self, a: Flow, b: Flow) -> bool:
        """Channel p of a and of b must be pruned together: unite their groups if they line up index by
        index (same group sizes); False when they do not (then the caller marks them)."""
        pairs = {}
        for (ga, ia), (gb, ib) in zip(a.entries, b.entries, strict=True):
            if ga is None or gb is None:
                if ga != gb:
                    return False
                continue
            if ia != ib or pairs.setdefault(ga, gb) != gb:
                return False
        if any(self.group_sizes[ga] != self.group_sizes[gb] for ga, gb in pairs.items()):
            return False
        for ga, gb in pairs.items():
            self.unite(ga, gb)
        return True

    def finalize(self) -> None:
        """Replace every group id by its union-find root."""
        self.unprunable = {self.root(g) for g in self.unprunable}
        lost: dict[int, str] = {}
        for g, why in self.lost.items():
            lost.setdefault(self.root(g), why)
        self.lost = lost
        for layer in self.layers.values():
            layer.group = self.root(layer.group)
            layer.in_flow = self._rooted(layer.in_flow)
        self.routes = {k: replace(r, source_flow=self._rooted(r.source_flow)) for k, r in self.routes.items()}
        self.group_sizes = {g: n for g, n in self.group_sizes.items() if self.root(g) == g}

    def _rooted(self, flow: Flow) -> Flow:
        return replace(flow, entries=tuple((self.root(g) if g is not None else None, i) for g, i in flow.entries))
