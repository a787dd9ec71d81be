"""Event contracts: the bodies stored in the store's append-only, hash-chained log.

Every body type has a stable `type` name and an explicit `schema_version`. A body is encoded
with msgspec JSON in field order, and those exact bytes are what the hash chain covers; a
change of shape is a new version, never an edit of an old one. Times are UTC epoch
milliseconds (`*_ms`), money is integer minor units, weights are milli-units.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

from schemas.catalog import PriceVersion, Product, TaxClass
from schemas.devices import DeviceAddress

DiscountKind = Literal["amount", "percent"]
TaxMode = Literal["inclusive", "exclusive"]


class EventBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1


# --- catalog -----------------------------------------------------------------------------


class TaxClassSet(EventBody, frozen=True):
    TYPE: ClassVar[str] = "catalog.tax_class_set"
    tax_class: TaxClass


class ProductUpserted(EventBody, frozen=True):
    TYPE: ClassVar[str] = "catalog.product_upserted"
    product: Product


class PriceSet(EventBody, frozen=True):
    TYPE: ClassVar[str] = "catalog.price_set"
    price: PriceVersion


# --- carts -------------------------------------------------------------------------------


class CartOpened(EventBody, frozen=True):
    TYPE: ClassVar[str] = "cart.opened"
    cart_id: str
    lane_id: str
    currency: str
    opened_at_ms: int


class CartLineAdded(EventBody, frozen=True):
    TYPE: ClassVar[str] = "cart.line_added"
    cart_id: str
    line_id: int
    sku: str
    product_id: str
    name: str
    sold_by: Literal["each", "weight"]
    qty_milli: int
    unit_price_minor: int
    price_version: int
    lock_expires_at_ms: int
    tax_class: str
    tax_rate_ppm: int
    scanned_code: str | None = None


class CartLineQtyChanged(EventBody, frozen=True):
    TYPE: ClassVar[str] = "cart.line_qty_changed"
    cart_id: str
    line_id: int
    qty_milli: int


class CartLineRemoved(EventBody, frozen=True):
    TYPE: ClassVar[str] = "cart.line_removed"
    cart_id: str
    line_id: int


class CartDiscountApplied(EventBody, frozen=True):
    """A line discount (line_id set) or a cart discount (line_id None); replaces any previous."""

    TYPE: ClassVar[str] = "cart.discount_applied"
    cart_id: str
    line_id: int | None
    kind: DiscountKind
    # amount: minor units; percent: basis points (1000 = 10 %).
    value: int
    approved_by_role: Literal["cashier", "manager"]
    reason: str = ""


class LineRepriced(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    line_id: int
    unit_price_minor: int
    price_version: int
    lock_expires_at_ms: int


class CartRepriced(EventBody, frozen=True):
    TYPE: ClassVar[str] = "cart.repriced"
    cart_id: str
    lines: tuple[LineRepriced, ...]


class CartTenderAdded(EventBody, frozen=True):
    TYPE: ClassVar[str] = "cart.tender_added"
    cart_id: str
    tender_id: int
    tender_type: Literal["cash"]
    amount_minor: int


class CartVoided(EventBody, frozen=True):
    TYPE: ClassVar[str] = "cart.voided"
    cart_id: str
    reason: str = ""


# --- sales -------------------------------------------------------------------------------


class SoldLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    line_no: int
    sku: str
    product_id: str
    name: str
    qty_milli: int
    unit_price_minor: int
    price_version: int
    # True when the price version charged had been superseded by the time of sale: the lock
    # held the price. HQ reconciles these against its own price history.
    sold_under_lock: bool
    tax_class: str
    tax_rate_ppm: int
    gross_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int


class SoldTender(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tender_no: int
    tender_type: str
    amount_minor: int


class SaleCompleted(EventBody, frozen=True):
    TYPE: ClassVar[str] = "sale.completed"
    order_id: str
    cart_id: str
    receipt_number: str
    lane_id: str
    completed_at_ms: int
    business_date: str
    currency: str
    tax_mode: TaxMode
    lines: tuple[SoldLine, ...]
    tenders: tuple[SoldTender, ...]
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    tendered_minor: int
    change_due_minor: int


# --- devices (hardware layer) -------------------------------------------------------------


class DeviceAttached(EventBody, frozen=True):
    """A device appeared on an interface; `kind` is "unsupported" when no driver claimed it."""

    TYPE: ClassVar[str] = "device.attached"
    device_id: str
    kind: str
    driver: str | None
    address: DeviceAddress
    product: str | None = None


class DeviceDetached(EventBody, frozen=True):
    TYPE: ClassVar[str] = "device.detached"
    device_id: str
    kind: str
    address: DeviceAddress


EVENT_TYPES: dict[str, type[EventBody]] = {
    cls.TYPE: cls
    for cls in (
        TaxClassSet,
        ProductUpserted,
        PriceSet,
        CartOpened,
        CartLineAdded,
        CartLineQtyChanged,
        CartLineRemoved,
        CartDiscountApplied,
        CartRepriced,
        CartTenderAdded,
        CartVoided,
        SaleCompleted,
        DeviceAttached,
        DeviceDetached,
    )
}

_encoder = msgspec.json.Encoder()
_decoders = {name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()}


def encode_body(body: EventBody) -> bytes:
    return _encoder.encode(body)


def decode_body(event_type: str, schema_version: int, data: bytes) -> EventBody:
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise ValueError(f"unknown event type {event_type!r}")
    if schema_version != cls.SCHEMA_VERSION:
        raise ValueError(f"{event_type} schema version {schema_version} is not readable here")
    return _decoders[event_type].decode(data)
