"""[inventory]: when a count or an adjustment needs a manager, what "low" means, and whether
a sale may drive on-hand below zero."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class InventoryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # A count line whose variance, or an adjustment whose size, is above this (milli-units,
    # absolute) needs a manager token.
    manager_above_milli: Annotated[int, msgspec.Meta(ge=0)] = 5_000
    # `stock show --low` and GET /v1/stock/low: SKUs whose available is at most this.
    low_stock_milli: Annotated[int, msgspec.Meta(ge=-(10**12), le=10**12)] = 1_000
    # "allow": a sale is never blocked by stock (the item is in the customer's hand; on-hand
    # goes negative and is flagged). "refuse": a tenant policy refusing such a sale.
    on_negative: Literal["allow", "refuse"] = "allow"
