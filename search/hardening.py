"""When the search's weights start training on the network discretization will keep (one-hot gates).

The soft supernet mixes every option; the deployed network is its argmax. From `harden_from`
(the last `harden` share of the search), or after the first epoch whose argmax network's validation
accuracy fell below `harden_collapse` x its best in this search (the soft supernet no longer stands
for the network that will be deployed), the gates are hard: the weights learn the argmax network,
the gates still get straight-through gradients, and the fine-tune starts from weights that fit it.
"""

from __future__ import annotations

from typing import Any

from search.config import SearchConfig


def hardened(sampling: str) -> str:
    """The one-hot (straight-through) form of a sampling mode."""
    return "hard-gumbel" if "gumbel" in sampling else "hard"


class Hardening:
    def __init__(self, cfg: SearchConfig, total_epochs: int) -> None:
        self.harden_from = total_epochs - round(cfg.harden * total_epochs)
        self.collapse = cfg.harden_collapse
        self.best = 0.0  # the best argmax validation accuracy of the search so far
        self.collapsed = False

    def active(self, epoch: int) -> bool:
        """Are the gates one-hot in this (search-wide) epoch?"""
        return epoch >= self.harden_from or self.collapsed

    def after_epoch(self, hard: bool, deployed_acc: float) -> None:
        """A soft epoch whose argmax accuracy collapsed hardens every later epoch."""
        self.best = max(self.best, deployed_acc)
        if not hard and deployed_acc < self.collapse * self.best:
            self.collapsed = True

    def state_dict(self) -> dict[str, Any]:
        return {"best_deployed_acc": self.best, **({"hardened": 1} if self.collapsed else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Takes its own keys of a checkpoint's extra state, ignores the rest (the penalty's)."""
        if "best_deployed_acc" in state:
            self.best = float(state["best_deployed_acc"])
        if "hardened" in state:
            self.collapsed = bool(state["hardened"])
