"""What a finished run should tell its user before they deploy it: said once, at the end, as plain lines.

`metrics.json` holds `fit` and the accuracy, but a user reads the last lines of the output: a
network that scores like a coin (mpic at budget=2kB with 3 search epochs: 10.03% on ten classes)
or that does not fit its board (`fits: false`, only in metrics.json) ended without a word.
"""

from __future__ import annotations

from cost_models.fit import Fit
from search.numbers import count

NEAR_CHANCE = 0.05  # within 5 points of guessing: the network has learned (next to) nothing


def near_chance(test_acc: float, classes: int) -> str | None:
    """A warning when the test accuracy is within NEAR_CHANCE of guessing among `classes`."""
    chance = 1.0 / max(classes, 1)
    if test_acc >= chance + NEAR_CHANCE:
        return None
    return (
        f"test accuracy {100 * test_acc:.2f}% is near chance ({100 * chance:.2f}% for {classes} classes): "
        "this network has learned next to nothing; give it more epochs, a looser budget or a lower strength"
    )


def off_board(fit: Fit) -> str | None:
    """A warning when the network needs more Flash or RAM than its target has."""
    if fit.fits:
        return None
    over = [
        f"{what} {count(need)} B > {count(limit)} B"
        for what, need, limit, ok in (
            ("Flash", fit.flash_bytes, fit.flash_limit, fit.fits_flash),
            ("RAM", fit.ram_bytes, fit.ram_limit, fit.fits_ram),
        )
        if not ok
    ]
    return (
        f"the network does not fit {fit.target} ({', '.join(over)}); search with fit_target=true or a budget "
        "to make it fit"
    )


def run_warnings(test_acc: float, classes: int, board: Fit) -> list[str]:
    """Every end-of-run warning that applies, in the order they matter."""
    return [w for w in (near_chance(test_acc, classes), off_board(board)) if w is not None]
