"""The tenant policy that refuses a sale beyond stock (`[inventory] on_negative = "refuse"`).
By default selling is never blocked (the item is in the customer's hand); a store that
refuses calls this before its sale is recorded, and the sale path reads nothing more when
the policy is off."""

from __future__ import annotations

from collections.abc import Iterable

from edge.inventory import levels
from edge.inventory.errors import InsufficientStock
from edge.store.writer import Tx


def refuse_overselling(tx: Tx, lines: Iterable[tuple[str, int]]) -> None:
    """Raises `InsufficientStock` when a line would take on-hand below zero (the same SKU on
    several lines adds up); nothing is recorded."""
    wanted: dict[str, int] = {}
    for sku, qty_milli in lines:
        wanted[sku] = wanted.get(sku, 0) + qty_milli
    have = levels.levels(tx.conn, wanted)
    short = sorted(sku for sku, qty in wanted.items() if have[sku].on_hand_milli < qty)
    if short:
        raise InsufficientStock(f"not enough on hand to sell {', '.join(short)} (the tenant "
                                "refuses sales beyond stock)")
