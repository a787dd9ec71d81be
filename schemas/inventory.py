"""Stock events: what changes on-hand and reservations at a store, one fact each.

On-hand per SKU is the sum of the on-hand deltas of these events and of the sale lines of
`sale.completed` (`core.stock.deltas` says which delta each event carries); reserved is the
sum of the reservation deltas. Quantities are milli-units (`qty_milli`: 1000 = one unit, or
one kilogram of a weighed good), like sale lines. The pickup-order events (`schemas.pickup`)
are listed here too, so `schemas.events` registers the whole inventory domain in one line.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

from schemas.eventbase import EventBody
from schemas.pickup import PICKUP_EVENTS

AdjustReason = Literal["damage", "theft", "expiry", "correction"]
DeliverySource = Literal["supplier", "transfer"]
ReservationOutcome = Literal["released", "fulfilled", "expired"]


class StockLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: str
    qty_milli: int


class ReceivedLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A line of a receipt: what the delivery announced and what was counted off the truck.
    The counted quantity is what goes on hand; the discrepancy is recorded for HQ."""

    sku: str
    expected_milli: int
    counted_milli: int
    discrepancy_milli: int  # counted - expected


class DeliveryExpected(EventBody, frozen=True):
    """A delivery HQ announced by down-sync (from a supplier, or a transfer from another
    store). No stock moves until it is received."""

    TYPE: ClassVar[str] = "stock.delivery_expected"
    delivery_id: str
    source: DeliverySource
    lines: tuple[StockLine, ...]
    supplier: str = ""
    from_store_id: str | None = None


class StockReceived(EventBody, frozen=True):
    TYPE: ClassVar[str] = "stock.received"
    receipt_id: str
    delivery_id: str | None  # None: an unannounced delivery
    source: DeliverySource
    lines: tuple[ReceivedLine, ...]
    from_store_id: str | None = None
    note: str = ""


class TransferRequested(EventBody, frozen=True):
    """HQ asks this store to send stock to another store (down-sync)."""

    TYPE: ClassVar[str] = "stock.transfer_requested"
    transfer_id: str
    to_store_id: str
    lines: tuple[StockLine, ...]


class StockTransferredOut(EventBody, frozen=True):
    TYPE: ClassVar[str] = "stock.transferred_out"
    transfer_id: str
    to_store_id: str
    lines: tuple[StockLine, ...]


class StockAdjusted(EventBody, frozen=True):
    TYPE: ClassVar[str] = "stock.adjusted"
    adjustment_id: str
    sku: str
    delta_milli: int
    reason: AdjustReason
    approved_by_role: Literal["cashier", "manager"]
    note: str = ""


class CountedLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: str
    counted_milli: int
    expected_milli: int  # on-hand when the count was recorded (never shown to the counter)
    variance_milli: int  # counted - expected: the on-hand delta of the count


class StockCounted(EventBody, frozen=True):
    """A blind cycle count of one section: the counter gave quantities without seeing the
    expected ones; the variance is what moves on-hand."""

    TYPE: ClassVar[str] = "stock.counted"
    count_id: str
    section: str
    lines: tuple[CountedLine, ...]
    approved_by_role: Literal["cashier", "manager"]


class SafetyStockSet(EventBody, frozen=True):
    TYPE: ClassVar[str] = "stock.safety_set"
    sku: str
    safety_milli: int


class StockReserved(EventBody, frozen=True):
    """Units held for an owner (`pickup:<order_id>`, ...) until `expires_at_ms` at the latest.
    Every reservation ends with exactly one `stock.reservation_ended`."""

    TYPE: ClassVar[str] = "stock.reserved"
    reservation_id: str
    owner: str
    lines: tuple[StockLine, ...]
    expires_at_ms: int


class ReservationEnded(EventBody, frozen=True):
    """The end of a reservation: `lines` (as reserved) are no longer held; `taken` are the
    units that left the store with it (a prepaid pickup handed over; a substitution takes
    the substitute). A pickup paid at the lane is `fulfilled` with nothing taken: its sale
    took the units off on-hand."""

    TYPE: ClassVar[str] = "stock.reservation_ended"
    reservation_id: str
    outcome: ReservationOutcome
    lines: tuple[StockLine, ...]
    taken: tuple[StockLine, ...] = ()
    reason: str = ""


STOCK_EVENTS: tuple[type[EventBody], ...] = (
    DeliveryExpected, StockReceived, TransferRequested, StockTransferredOut, StockAdjusted,
    StockCounted, SafetyStockSet, StockReserved, ReservationEnded,
)
INVENTORY_EVENTS: tuple[type[EventBody], ...] = (*STOCK_EVENTS, *PICKUP_EVENTS)
