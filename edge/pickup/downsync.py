"""Pickup orders from HQ (down-sync kind `pickup.order`): recorded as received; the store's
sweeper decides them (`commands.sweep`). An order for another store is skipped; the same
order id published twice is recorded once."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from edge.pickup import commands
from schemas.inventory_api import PickupOrderChange
from schemas.pickup import PickupOrder
from schemas.sync import Change
from sync.downsync import decode
from sync.port import StoreTx

KIND = "pickup.order"


def apply_orders(tx: StoreTx, changes: Sequence[Change]) -> list[str]:
    out = []
    for change in changes:
        placed = msgspec.convert(msgspec.to_builtins(decode(change, PickupOrderChange)),
                                 PickupOrder)
        if placed.store_id != tx.store_id:
            out.append(f"for store {placed.store_id}; not this one")
        elif commands.receive(tx, placed):  # type: ignore[arg-type] - the store's own Tx
            out.append(f"pickup order {placed.order_id} received")
        else:
            out.append(f"pickup order {placed.order_id} already received")
    return out
