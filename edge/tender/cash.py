"""Cash tender: amount tendered, change due. Pure functions.

Invariant: a sale settles only when Σ tendered >= total, and change = Σ tendered − total is
paid back in cash, so the money kept always equals the total exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

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
