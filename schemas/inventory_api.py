"""Request and view contracts of the inventory and pickup APIs (store and HQ), and the
down-sync payloads HQ sends for deliveries, transfers and safety stock."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.inventory import AdjustReason, DeliverySource
from schemas.pickup import CancelReason

Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# One unit is 1000; a count or a receipt may be zero, a movement is at most a million units.
QtyMilli = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
PositiveQtyMilli = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
DeltaMilli = Annotated[int, msgspec.Meta(ge=-1_000_000_000, le=1_000_000_000)]
Note = Annotated[str, msgspec.Meta(max_length=500)]
MAX_LINES = 1_000

# --- store API -------------------------------------------------------------------------------


class StockView(msgspec.Struct, frozen=True):
    sku: str
    on_hand_milli: int
    reserved_milli: int
    safety_milli: int
    available_milli: int  # on_hand - reserved - safety
    negative: bool  # on-hand below zero: sold more than the books held (flagged)
    as_of_seq: int  # the log position these figures include


class StockList(msgspec.Struct, frozen=True):
    items: list[StockView]


class CountedQty(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: Sku
    counted_milli: QtyMilli


class ReceiveStock(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Goods received: against an announced delivery (its expected lines, counted), or
    unannounced (`delivery_id` omitted: expected = counted)."""

    lines: Annotated[list[CountedQty], msgspec.Meta(min_length=1, max_length=MAX_LINES)]
    delivery_id: Id | None = None
    note: Note = ""


class ReceiptLineView(msgspec.Struct, frozen=True):
    sku: str
    expected_milli: int
    counted_milli: int
    discrepancy_milli: int


class GoodsReceiptView(msgspec.Struct, frozen=True):
    receipt_id: str
    delivery_id: str | None
    source: DeliverySource
    lines: list[ReceiptLineView]
    discrepancies: int  # lines where counted != expected


class AdjustStock(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: Sku
    delta_milli: DeltaMilli
    reason: AdjustReason
    note: Note = ""


class AdjustmentView(msgspec.Struct, frozen=True):
    adjustment_id: str
    sku: str
    delta_milli: int
    reason: AdjustReason
    approved_by_role: str
    stock: StockView


class CountStock(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A blind count of one section: quantities only, the counter never sees expected."""

    section: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    lines: Annotated[list[CountedQty], msgspec.Meta(min_length=1, max_length=MAX_LINES)]


class CountLineView(msgspec.Struct, frozen=True):
    sku: str
    counted_milli: int
    expected_milli: int
    variance_milli: int


class CountView(msgspec.Struct, frozen=True):
    count_id: str
    section: str
    approved_by_role: str
    lines: list[CountLineView]


class DeliveryLineView(msgspec.Struct, frozen=True):
    sku: str
    expected_milli: int


class DeliveryView(msgspec.Struct, frozen=True):
    delivery_id: str
    source: DeliverySource
    supplier: str
    from_store_id: str | None
    state: Literal["expected", "received"]
    lines: list[DeliveryLineView]
    receipt_id: str | None = None


class TransferLineView(msgspec.Struct, frozen=True):
    sku: str
    requested_milli: int
    shipped_milli: int | None


class TransferView(msgspec.Struct, frozen=True):
    transfer_id: str
    to_store_id: str
    state: Literal["requested", "shipped"]
    lines: list[TransferLineView]


class ShipTransfer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Ship a requested transfer; `lines` when what leaves differs from the request."""

    lines: Annotated[list[CountedQty], msgspec.Meta(max_length=MAX_LINES)] = []


# --- down-sync payloads (HQ -> store) --------------------------------------------------------


class DeliveryLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: Sku
    qty_milli: PositiveQtyMilli


class DeliveryNotice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`inventory.delivery`: goods on their way to `store_id`."""

    delivery_id: Id
    store_id: Id
    lines: Annotated[tuple[DeliveryLine, ...], msgspec.Meta(min_length=1, max_length=MAX_LINES)]
    source: DeliverySource = "supplier"
    supplier: Annotated[str, msgspec.Meta(max_length=128)] = ""
    from_store_id: Id | None = None


class TransferRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """HQ's transfer from one store to another: `inventory.transfer` to the sender and an
    `inventory.delivery` (source "transfer") to the receiver."""

    transfer_id: Id
    from_store_id: Id
    to_store_id: Id
    lines: Annotated[tuple[DeliveryLine, ...], msgspec.Meta(min_length=1, max_length=MAX_LINES)]


class SafetyStock(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`inventory.safety_stock`: units of `sku` never promised to a reservation."""

    sku: Sku
    safety_milli: QtyMilli
    store_id: Id | None = None  # None: every store of the tenant


# --- pickup (store API) ----------------------------------------------------------------------

PickupState = Literal["received", "accepted", "rejected", "picking", "packed", "ready",
                      "handed_over", "cancelled"]


class PickScan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One scan while picking: a barcode or SKU; `substitute_for` names the ordered SKU an
    item replaces (recorded and flagged for the customer's consent)."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    qty_milli: PositiveQtyMilli = 1000
    substitute_for: Sku | None = None


class Handover(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """At a lane: the customer's pickup code; for an order paid at pickup, the lane's sale
    of it (through the normal cart) as `sale_order_id`."""

    pickup_code: Annotated[str, msgspec.Meta(min_length=4, max_length=32)]
    sale_order_id: Id | None = None


class PickupLineView(msgspec.Struct, frozen=True):
    sku: str
    name: str
    qty_milli: int
    picked_milli: int
    unit_price_minor: int


class PickView(msgspec.Struct, frozen=True):
    sku: str
    qty_milli: int
    scanned_code: str
    substitute_for: str | None


class PickupOrderView(msgspec.Struct, frozen=True):
    order_id: str
    state: PickupState
    prepaid: bool
    lines: list[PickupLineView]
    picks: list[PickView]
    substituted: bool  # a substitution awaits the customer's consent
    short: bool  # a lane sold units this order holds
    received_at_ms: int
    hold_until_ms: int | None
    alarms: list[str]  # SLA timers breached: "accept", "ready"
    reservation_id: str | None = None
    cancel_reason: CancelReason | None = None
    # Only to a lane at handover time: the code is the customer's proof, not for lists.


class PickupOrderList(msgspec.Struct, frozen=True):
    orders: list[PickupOrderView]


class PickupLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: Sku
    qty_milli: PositiveQtyMilli
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    unit_price_minor: Annotated[int, msgspec.Meta(ge=0, le=10**10)] = 0


PickupCode = Annotated[str, msgspec.Meta(min_length=4, max_length=32)]
PickupLines = Annotated[tuple[PickupLine, ...], msgspec.Meta(min_length=1, max_length=200)]


class PickupOrderChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`pickup.order`: the down-sync payload of a pickup order for `store_id` (validated by
    the store before it is recorded as `pickup.order_received`)."""

    order_id: Id
    store_id: Id
    pickup_code: PickupCode
    lines: PickupLines
    prepaid: bool = True
    customer_ref: Annotated[str, msgspec.Meta(max_length=128)] = ""
    placed_at_ms: int = 0


# --- HQ (relay) ------------------------------------------------------------------------------


class PlacePickupOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`POST /v1/hq/pickup-orders`: an order for pickup at `store_id`. `order_id` makes the
    request idempotent (the same id again is the same order); a code is made when omitted."""

    order_id: Id
    store_id: Id
    lines: PickupLines
    prepaid: bool = True
    pickup_code: PickupCode | None = None
    customer_ref: Annotated[str, msgspec.Meta(max_length=128)] = ""


class HqPickupOrder(msgspec.Struct, frozen=True):
    order_id: str
    store_id: str
    state: Literal["sent", "received", "accepted", "rejected", "picking", "packed", "ready",
                   "handed_over", "cancelled"]
    prepaid: bool
    pickup_code: str
    lines: list[PickupLine]
    placed_at_ms: int
    short: bool = False
    substituted: bool = False
    rejected_lines: list[str] = msgspec.field(default_factory=list)
    cancel_reason: str | None = None
    as_of_seq: int = 0  # the store's last synced event about this order


class HqPickupOrders(msgspec.Struct, frozen=True):
    tenant_id: str
    orders: list[HqPickupOrder]


class HqStockLevel(msgspec.Struct, frozen=True):
    sku: str
    on_hand_milli: int
    reserved_milli: int


class HqStoreStock(msgspec.Struct, frozen=True):
    store_id: str
    synced_seq: int  # the store's log is included up to this seq
    items: list[HqStockLevel]


class HqStock(msgspec.Struct, frozen=True):
    tenant_id: str
    stores: list[HqStoreStock]


class PublishedChanges(msgspec.Struct, frozen=True):
    """What an HQ publish of deliveries or transfers became: down-sync change ids."""

    tenant_id: str
    first_change_id: int | None
    last_change_id: int | None
