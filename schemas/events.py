"""Event contracts: the bodies stored in the store's append-only, hash-chained log.

Every body type has a stable `type` name and an explicit `schema_version`. A body is encoded
with msgspec JSON in field order, and those exact bytes are what the hash chain covers; a
change of shape is a new version, never an edit of an old one. Times are UTC epoch
milliseconds (`*_ms`), money is integer minor units, weights are milli-units.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

from schemas.approvals import APPROVAL_EVENTS
from schemas.catalog import PriceVersion, Product, TaxClass
from schemas.cash import CASH_EVENTS
from schemas.checklists import CHECKLIST_EVENTS
from schemas.devices import DeviceAddress
from schemas.eventbase import EventBody
from schemas.fiscal import FISCAL_EVENTS
from schemas.inventory import INVENTORY_EVENTS
from schemas.loyalty import LOYALTY_EVENTS
from schemas.promotion_events import PROMOTION_EVENTS, SoldPromotion
from schemas.returns import RETURN_EVENTS
from schemas.upcasting import EventCodec, Upcaster

DiscountKind = Literal["amount", "percent"]
TaxMode = Literal["inclusive", "exclusive"]




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


class SoldLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
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
    # Promotions (docs/promotions.md): what each promotion gave this line, part of
    # `discount_minor`; absent when none applied (older bodies never have it).
    promotions: tuple[SoldPromotion, ...] = ()
    promotion_minor: int = 0


class SoldTender(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tender_no: int
    tender_type: str
    amount_minor: int


class SaleCompleted(EventBody, frozen=True, omit_defaults=True):
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
    # The promotion bundle the sale was evaluated under, and the coupons it redeemed; absent
    # when no promotion applied.
    promotion_bundle_version: int | None = None
    coupons: tuple[str, ...] = ()


# --- payments ----------------------------------------------------------------------------
# One stream per payment (`payment:<id>`); every state change of a tender is one of these
# events, and `edge.tender.machine.step` is the one function that says which are legal.

TenderType = Literal["cash", "card", "voucher", "other", "points"]
Via = Literal["local", "terminal", "reconciliation", "forward"]


class CardRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a terminal told us about a card transaction. Never a PAN: masked PAN and token only.
    (terminal_id, trace_no, receipt_no) is the gateway reference used to reverse and refund.
    `expiry` ("YYMM", ZVT BMP 0E) joined in schema version 2 of the events that carry a card:
    a card recorded before it, or by a terminal that sends none, has None."""

    terminal_id: str
    trace_no: int
    receipt_no: int
    approval_code: str | None = None
    masked_pan: str | None = None
    card_brand: str | None = None
    card_token: str | None = None
    expiry: str | None = None


class PaymentCreated(EventBody, frozen=True):
    TYPE: ClassVar[str] = "payment.created"
    payment_id: str
    cart_id: str
    tender_id: int
    lane_id: str
    tender_type: TenderType
    currency: str
    amount_minor: int
    # "<lane>:<Idempotency-Key>" of the request that created it: a retry after a crash finds
    # this payment instead of charging again.
    request_key: str
    voucher_code: str | None = None
    reference: str | None = None
    created_at_ms: int = 0


class PaymentAuthorizing(EventBody, frozen=True):
    """The intent to charge, committed before the first byte goes to the terminal."""

    TYPE: ClassVar[str] = "payment.authorizing"
    payment_id: str
    terminal_id: str
    preauthorize: bool = False


class PaymentAuthorized(EventBody, frozen=True):
    """A pre-authorization holds `amount_minor`; capture books the final amount."""

    TYPE: ClassVar[str] = "payment.authorized"
    SCHEMA_VERSION: ClassVar[int] = 2  # v2: card.expiry
    payment_id: str
    amount_minor: int
    card: CardRef
    via: Via = "terminal"


class PaymentCapturing(EventBody, frozen=True):
    TYPE: ClassVar[str] = "payment.capturing"
    payment_id: str
    amount_minor: int


class PaymentCaptured(EventBody, frozen=True):
    TYPE: ClassVar[str] = "payment.captured"
    SCHEMA_VERSION: ClassVar[int] = 2  # v2: card.expiry
    payment_id: str
    amount_minor: int
    via: Via
    card: CardRef | None = None


class PaymentCaptureFailed(EventBody, frozen=True):
    """The book total of a pre-authorization was refused or never happened: the payment is
    back to `authorized` (the hold stays on the card until it is captured again or reversed)."""

    TYPE: ClassVar[str] = "payment.capture_failed"
    payment_id: str
    via: Via
    result_code: int | None = None
    detail: str = ""


class PaymentDeclined(EventBody, frozen=True):
    TYPE: ClassVar[str] = "payment.declined"
    payment_id: str
    via: Via
    result_code: int | None = None
    detail: str = ""


class PaymentFailed(EventBody, frozen=True):
    """The attempt ended and nothing moved (aborted at the terminal, refused by offline policy)."""

    TYPE: ClassVar[str] = "payment.failed"
    payment_id: str
    via: Via
    detail: str = ""


class PaymentVoiding(EventBody, frozen=True):
    """Intent to reverse a card transaction on the terminal, committed before the reversal."""

    TYPE: ClassVar[str] = "payment.voiding"
    payment_id: str
    reason: str = ""


class PaymentVoided(EventBody, frozen=True):
    TYPE: ClassVar[str] = "payment.voided"
    SCHEMA_VERSION: ClassVar[int] = 2  # v2: card.expiry
    payment_id: str
    via: Via
    reason: str = ""
    card: CardRef | None = None


class PaymentVoidFailed(EventBody, frozen=True):
    """A reversal was refused or never happened: the payment is back where it was."""

    TYPE: ClassVar[str] = "payment.void_failed"
    payment_id: str
    via: Via
    detail: str = ""


class PaymentStored(EventBody, frozen=True):
    """Approved by the terminal's store-and-forward while the processor link was down."""

    TYPE: ClassVar[str] = "payment.stored"
    SCHEMA_VERSION: ClassVar[int] = 2  # v2: card.expiry
    payment_id: str
    amount_minor: int
    card: CardRef
    stored_at_ms: int
    via: Via = "terminal"


class PaymentForwarded(EventBody, frozen=True):
    TYPE: ClassVar[str] = "payment.forwarded"
    payment_id: str


class PaymentForwardDeclined(EventBody, frozen=True):
    """A stored payment the processor refused after forwarding (or that aged out): the money
    was never received. A follow-up for the store and HQ; never dropped."""

    TYPE: ClassVar[str] = "payment.forward_declined"
    payment_id: str
    amount_minor: int
    reason: str


class PaymentRefundRequested(EventBody, frozen=True):
    TYPE: ClassVar[str] = "payment.refund_requested"
    payment_id: str
    refund_id: str
    amount_minor: int


class PaymentRefunded(EventBody, frozen=True):
    TYPE: ClassVar[str] = "payment.refunded"
    SCHEMA_VERSION: ClassVar[int] = 2  # v2: card.expiry
    payment_id: str
    refund_id: str
    amount_minor: int
    via: Via
    card: CardRef | None = None


class PaymentRefundFailed(EventBody, frozen=True):
    TYPE: ClassVar[str] = "payment.refund_failed"
    payment_id: str
    refund_id: str
    via: Via
    detail: str = ""


class RefundLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    line_no: int
    qty_milli: int
    amount_minor: int


class RefundAllocation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    payment_id: str
    tender_type: str
    amount_minor: int


class OrderRefundCreated(EventBody, frozen=True):
    """A refund of an order (whole or lines), and how it is split over the original tenders."""

    TYPE: ClassVar[str] = "order.refund_created"
    refund_id: str
    order_id: str
    lane_id: str
    amount_minor: int
    lines: tuple[RefundLine, ...]
    allocations: tuple[RefundAllocation, ...]
    approved_by_role: Literal["cashier", "manager"]
    reason: str = ""
    # "<lane>:<Idempotency-Key>": a retry after a crash resumes this refund, never a second.
    request_key: str = ""


class VoucherIssued(EventBody, frozen=True):
    TYPE: ClassVar[str] = "voucher.issued"
    code: str
    currency: str
    amount_minor: int
    reason: str = ""


class VoucherRedeemed(EventBody, frozen=True):
    TYPE: ClassVar[str] = "voucher.redeemed"
    code: str
    payment_id: str
    amount_minor: int


class VoucherCredited(EventBody, frozen=True):
    """Money back onto a voucher: a voided redemption or a refund to voucher."""

    TYPE: ClassVar[str] = "voucher.credited"
    code: str
    payment_id: str
    amount_minor: int
    reason: Literal["void", "refund"]
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
        PaymentCreated,
        PaymentAuthorizing,
        PaymentAuthorized,
        PaymentCapturing,
        PaymentCaptured,
        PaymentDeclined,
        PaymentFailed,
        PaymentVoiding,
        PaymentVoided,
        PaymentVoidFailed,
        PaymentStored,
        PaymentForwarded,
        PaymentForwardDeclined,
        PaymentRefundRequested,
        PaymentRefunded,
        PaymentRefundFailed,
        PaymentCaptureFailed,
        OrderRefundCreated,
        VoucherIssued,
        VoucherRedeemed,
        VoucherCredited,
        DeviceAttached,
        DeviceDetached,
        *RETURN_EVENTS,
        *APPROVAL_EVENTS,
        *INVENTORY_EVENTS,
        *PROMOTION_EVENTS,
        *LOYALTY_EVENTS,
        *CASH_EVENTS,
        *FISCAL_EVENTS,
        *CHECKLIST_EVENTS,
    )
}

# Upcasters: (event type, version n) -> a function from the body's JSON object at version n to
# the same fact at version n + 1. When a body type's shape changes, its SCHEMA_VERSION goes up,
# the old shape is described by the upcaster (never by editing the class), and the golden file
# of every version ever written (tests/golden/) proves old events still read.


def _card_expiry_unknown(body: dict) -> dict:
    """v1 -> v2 of an event carrying a card: the expiry was not recorded before v2."""
    card = body.get("card")
    return {**body, "card": None if card is None else {**card, "expiry": None}}


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    (cls.TYPE, 1): _card_expiry_unknown
    for cls in (PaymentAuthorized, PaymentCaptured, PaymentVoided, PaymentStored,
                PaymentRefunded)
}

CODEC = EventCodec(EVENT_TYPES, UPCASTERS)


def encode_body(body: EventBody) -> bytes:
    return CODEC.encode(body)


def decode_body(event_type: str, schema_version: int, data: bytes) -> EventBody:
    """The body of a stored event, read at the version it was written with: the store's own
    projections and `verify`, the sync engine and the relay all read through here."""
    return CODEC.decode(event_type, schema_version, data)
