"""[price_lock] and [discounts]: how long a scanned price holds, and what a cashier may
discount without a manager."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class PriceLockConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ttl_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 900
    # What completing a cart does when a line's lock expired and its price moved:
    # "refuse" answers 409 until the lane re-prices the cart; "reprice" re-prices silently.
    on_expiry: Literal["refuse", "reprice"] = "refuse"


class DiscountConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Discounts worth more than this share of what they apply to need a manager token.
    manager_threshold_bp: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 2_000
