"""Cash tender: amount tendered, change due, cash rounding. Pure functions.

Invariant: a sale settles only when Σ tendered >= total, and change = Σ tendered − total is
paid back in cash, so the money kept always equals the total exactly. With cash rounding (for
stores that do not hand out the smallest coins) the *cash due* is first rounded to the
increment, half up: the money kept is then total + rounding, |rounding| <= increment / 2, and
the rounding is recorded on the sale (see `edge.payments.settlement`).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.money import div_round_half_up
from edge.errors import TenderInsufficient


@dataclass(frozen=True, slots=True)
class Settlement:
    tendered_minor: int
    change_due_minor: int


def settle(total_minor: int, tendered_minor: list[int]) -> Settlement:
    assert total_minor >= 0 and all(t > 0 for t in tendered_minor)
    tendered = sum(tendered_minor)
    if tendered < total_minor:
        raise TenderInsufficient(
            f"tendered {tendered} of {total_minor}; {total_minor - tendered} still due",
            amount_due_minor=total_minor - tendered,
        )
    return Settlement(tendered, tendered - total_minor)


def amount_due(total_minor: int, tendered_minor: int) -> int:
    return max(total_minor - tendered_minor, 0)


def change_due(total_minor: int, tendered_minor: int) -> int:
    return max(tendered_minor - total_minor, 0)


def round_cash(amount_minor: int, increment_minor: int) -> int:
    """`amount_minor` rounded to a multiple of the smallest cash increment, halves up
    (e.g. increment 5: 4.87 -> 4.85, 4.88 -> 4.90). Increment 1 means no rounding."""
    assert increment_minor >= 1 and amount_minor >= 0
    return div_round_half_up(amount_minor, increment_minor) * increment_minor
