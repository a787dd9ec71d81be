"""Pickup-order (buy online, pick up in store) events and the order contract HQ sends down.

An order's life: received (down-sync) -> accepted (every line reserved) or rejected (the short
lines named) -> items picked by scanning -> packed -> ready -> handed over at a lane; or
cancelled (a no-show after the hold, HQ, the store). A lane selling a held unit flags the
order short. `edge.pickup.machine` holds the transitions.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

from schemas.eventbase import EventBody

CancelReason = Literal["no_show", "hq", "store"]


# The event shapes carry no validation constraints: what was recorded must always read back.
# The boundary contracts (`schemas.inventory_api.PickupOrderChange`, `PlacePickupOrder`)
# validate before anything is recorded.


class PickupLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: str
    qty_milli: int
    name: str = ""
    unit_price_minor: int = 0


class PickupOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A pickup order as HQ sent it to one store."""

    order_id: str
    store_id: str
    pickup_code: str
    lines: tuple[PickupLine, ...]
    prepaid: bool = True
    customer_ref: str = ""
    placed_at_ms: int = 0


class PickupOrderReceived(EventBody, frozen=True):
    TYPE: ClassVar[str] = "pickup.order_received"
    order: PickupOrder


class PickupAccepted(EventBody, frozen=True):
    TYPE: ClassVar[str] = "pickup.accepted"
    order_id: str
    reservation_id: str
    hold_until_ms: int  # the no-show deadline: the reservation's expiry


class ShortLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: str
    requested_milli: int
    available_milli: int


class PickupRejected(EventBody, frozen=True):
    TYPE: ClassVar[str] = "pickup.rejected"
    order_id: str
    reason: str
    short: tuple[ShortLine, ...] = ()


class PickupItemPicked(EventBody, frozen=True):
    """One scan of the pick: `sku` was picked; `substitute_for` names the ordered SKU it
    replaces (a substitution, flagged for the customer's consent)."""

    TYPE: ClassVar[str] = "pickup.item_picked"
    order_id: str
    sku: str
    qty_milli: int
    scanned_code: str
    substitute_for: str | None = None


class PickupPacked(EventBody, frozen=True):
    TYPE: ClassVar[str] = "pickup.packed"
    order_id: str


class PickupReady(EventBody, frozen=True):
    """Ready for pickup: HQ tells the customer from this event."""

    TYPE: ClassVar[str] = "pickup.ready"
    order_id: str


class PickupHandedOver(EventBody, frozen=True):
    TYPE: ClassVar[str] = "pickup.handed_over"
    order_id: str
    prepaid: bool
    sale_order_id: str | None = None  # paid at pickup: the lane's sale


class PickupCancelled(EventBody, frozen=True):
    TYPE: ClassVar[str] = "pickup.cancelled"
    order_id: str
    reason: CancelReason


class PickupFlaggedShort(EventBody, frozen=True):
    """A lane sold units this order holds: on-hand fell below what is reserved for it."""

    TYPE: ClassVar[str] = "pickup.flagged_short"
    order_id: str
    sku: str
    short_milli: int


PICKUP_EVENTS: tuple[type[EventBody], ...] = (
    PickupOrderReceived, PickupAccepted, PickupRejected, PickupItemPicked, PickupPacked,
    PickupReady, PickupHandedOver, PickupCancelled, PickupFlaggedShort,
)
