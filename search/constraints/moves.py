"""The one-step moves of a channel group, in the order the gates want them: what the repair walks through.

A move takes one channel to its next option down (shrink; down to 0 = pruned) or up (grow; 0 -> the lowest
bit-width restores a pruned channel), skipping options the gates do not allow. Its logit gap
alpha[new] - alpha[current] says how much the search wanted it. Each group keeps its channels' moves in a
heap, so the best one is found without rescanning every channel after every step (MobileNetV2 has groups
of 1,280 channels); after a channel moves, only its own next move is added.
"""

from __future__ import annotations

import heapq

import numpy as np

from search.constraints.pricer import Move
from supernet import ChannelGates


class GroupMoves:
    """The moves of one group in one direction (-1 shrink, +1 grow), best first: largest gap, then the
    highest channel, then the highest bits (the order the exhaustive greedy broke ties in)."""

    def __init__(self, index: int, gates: ChannelGates, bits: list[int], direction: int, min_kept: int) -> None:
        self.index, self.direction, self.min_kept = index, direction, min_kept
        self.options = gates.options
        self.alpha = gates.logits().detach().cpu().numpy().astype(np.float32)  # the gaps in float32, as the gates
        self.allowed = gates.allowed.cpu().numpy()
        self.per_layer = gates.channels == 1  # one choice for the whole layer: every channel moves at once
        self.bits = list(bits)
        self.kept = sum(b > 0 for b in bits)
        self.heap: list[tuple[float, int, int, int]] = []
        for c in [len(bits) - 1] if self.per_layer else range(len(bits)):
            self._push(c)

    def _push(self, c: int) -> None:
        col = 0 if self.per_layer else c
        b = self.bits[c]
        i = self.options.index(b) if b in self.options else 0
        j = i + self.direction
        while 0 <= j < len(self.options) and not self.allowed[j, col]:  # skip masked options
            j += self.direction
        if 0 <= j < len(self.options):
            gap = float(self.alpha[j, col] - self.alpha[i, col])
            heapq.heappush(self.heap, (-gap, -c, -self.options[j], b))

    def best(self) -> tuple[float, Move] | None:
        """(gap, move) of the most wanted valid move, or None; invalid ones (pruning below min_kept) are dropped."""
        while self.heap:
            neg_gap, neg_c, neg_bits, _ = self.heap[0]
            if -neg_bits == 0 and self.kept <= self.min_kept:
                heapq.heappop(self.heap)  # the group may not lose another channel, now or later (shrink only)
                continue
            c = -neg_c
            channels = tuple(range(len(self.bits))) if self.per_layer else (c,)
            return -neg_gap, Move(self.index, channels, -neg_bits)
        return None

    def drop(self) -> None:
        """Discard the current best move (it did not fit)."""
        heapq.heappop(self.heap)

    def taken(self) -> None:
        """The current best move was applied: update the group's bits and offer the channel's next move."""
        _, neg_c, neg_bits, _ = heapq.heappop(self.heap)
        c, new = -neg_c, -neg_bits
        channels = range(len(self.bits)) if self.per_layer else (c,)
        for k in channels:
            self.kept += (new > 0) - (self.bits[k] > 0)
            self.bits[k] = new
        self._push(c)
