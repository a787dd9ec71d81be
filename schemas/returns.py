"""Return and exchange contracts: the `return.completed` event, the requests a lane sends and
the views it reads back.

A return is its own document, linked to the original order and its lines (receipted) or to
nothing but a customer's keyed hash (receiptless). What went back per line (quantity, what the
customer had paid for it pro rata, the restocking fee, the refund, reason and disposition) is
in the event, so the inventory domain can restock from it and HQ can flag it without any other
table. Money is integer minor units; quantities are milli-units (1000 = one piece).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from schemas.api import OrderView, Qty, QtyMilli, Reason, RefundView
from schemas.eventbase import EventBody

Disposition = Literal["back_to_stock", "damaged", "to_vendor", "destroy"]
RefundTo = Literal["original_tenders", "store_credit"]
ReturnKind = Literal["receipted", "receiptless"]
# Fraud flags a return may carry (docs/returns.md says when each is raised).
Flag = Literal["velocity_exceeded", "high_value", "receiptless_over_threshold",
               "card_not_original", "price_lock_mismatch", "outside_window"]
ReasonCode = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
Customer = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# A card as its terminal slip prints it: never a whole PAN (at least one masked digit), the
# last four digits shown ("4999********1234", "****1234").
MaskedPan = Annotated[str, msgspec.Meta(
    min_length=5, max_length=19, pattern=r"^[0-9]{0,8}\*+[0-9]{4}$",
    description="The card as its slip prints it: masked digits as *, the last four shown")]
ApprovalCode = Annotated[str, msgspec.Meta(min_length=1, max_length=16,
                                           pattern=r"^[A-Za-z0-9]+$")]
# A card's expiry in a lookup: "MM/YY" as the card prints it, or "YYMM" as the terminal reports
# it (ZVT BMP 0E) and the payments keep it.
CARD_EXPIRY_PATTERN = r"^((0[1-9]|1[0-2])/[0-9]{2}|[0-9]{2}(0[1-9]|1[0-2]))$"
CARD_EXPIRY_DESCRIPTION = ('The card\'s expiry: "MM/YY" as the card prints it, or "YYMM" '
                           "as the terminal reports it")


# --- events ------------------------------------------------------------------------------


class ReturnedLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One line taken back. `order_id`/`line_no` name the original line (None receiptless)."""

    order_id: str | None
    line_no: int | None
    sku: str
    qty_milli: int
    # What the customer paid for this quantity (pro rata of the line's total after discounts;
    # receiptless: the lowest price of the lookback window).
    paid_minor: int
    fee_minor: int
    # paid - fee: what this line gives back (to tenders or as store credit).
    amount_minor: int
    reason: str
    disposition: Disposition


class ReturnCompleted(EventBody, frozen=True):
    """A return (or the returning half of an exchange) and where its money went."""

    TYPE: ClassVar[str] = "return.completed"
    return_id: str
    kind: ReturnKind
    order_id: str | None
    receipt_number: str | None
    lane_id: str
    currency: str
    lines: tuple[ReturnedLine, ...]
    fee_minor: int
    amount_minor: int
    refund_to: RefundTo
    # The `order.refund_created` that carried the lines (and the money onto the tenders).
    refund_id: str | None
    # The voucher issued as store credit (refund_to = store_credit) and its amount (for an
    # exchange only what the new sale did not take).
    store_credit_code: str | None
    store_credit_minor: int
    # HMAC-SHA256 of the normalized phone or email, keyed per store (never the identifier).
    customer_hash: str | None
    flags: tuple[str, ...]
    approved_by_role: Literal["cashier", "manager"]
    # Set when the return is the returning half of an exchange (the sale's order id).
    exchange_order_id: str | None = None
    request_key: str = ""


RETURN_EVENTS: tuple[type[EventBody], ...] = (ReturnCompleted,)


# --- requests ----------------------------------------------------------------------------


class ReturnLineRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    line_no: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    reason: ReasonCode
    disposition: Disposition = "back_to_stock"
    qty: Qty | None = None
    qty_milli: QtyMilli | None = None


class RefundCard(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The card the customer asks the money back onto (as its slip prints it). Money goes to
    a card only by the terminal reference of a card that paid the order: another card is
    `card_not_original` (refused, or a manager's, per `[returns] other_card`)."""

    masked_pan: MaskedPan
    approval_code: ApprovalCode | None = None


class ReturnRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A receipted return: the order by id or by its receipt number (typed or scanned)."""

    lines: Annotated[list[ReturnLineRequest], msgspec.Meta(min_length=1, max_length=500)]
    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    receipt_number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    refund_to: RefundTo = "original_tenders"
    customer: Customer | None = None
    note: Reason = ""
    # The card the customer asks the money back onto; None: each card tender by its reference.
    card: RefundCard | None = None


class ReceiptlessItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: Sku
    reason: ReasonCode
    disposition: Disposition = "back_to_stock"
    qty: Qty | None = None
    qty_milli: QtyMilli | None = None


class ReceiptlessReturnRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A return without a receipt: store credit only, a customer identifier required."""

    items: Annotated[list[ReceiptlessItem], msgspec.Meta(min_length=1, max_length=100)]
    customer: Customer
    note: Reason = ""


class ExchangeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Return lines of an order and sell the open cart `cart_id` in one document. The cart's
    total less the return's value is settled: the customer pays it with the cart's tenders
    (added before, as in any sale), or gets it back to the original tenders or as store
    credit (`refund_to`); an even exchange moves no money."""

    cart_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    lines: Annotated[list[ReturnLineRequest], msgspec.Meta(min_length=1, max_length=500)]
    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    receipt_number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    refund_to: RefundTo = "original_tenders"
    note: Reason = ""
    # The card the customer asks what goes back onto (as for a return).
    card: RefundCard | None = None


# --- views -------------------------------------------------------------------------------


class ReturnableLine(msgspec.Struct, frozen=True):
    line_no: int
    sku: str
    name: str
    sold_qty_milli: int
    returned_qty_milli: int
    returnable_qty_milli: int
    # What the returnable quantity is worth (pro rata of the line's total after discounts).
    returnable_minor: int
    final_sale: bool
    sold_under_lock: bool


class ReturnableOrder(msgspec.Struct, frozen=True):
    order_id: str
    receipt_number: str
    business_date: str
    currency: str
    # Business days since the sale (store-local), and whether that is inside the window.
    age_days: int
    within_window: bool
    lines: list[ReturnableLine]
    # What the order's tenders can still take back (never more than each kept).
    refundable_minor: int


class ReturnedLineView(msgspec.Struct, frozen=True):
    order_id: str | None
    line_no: int | None
    sku: str
    qty_milli: int
    paid_minor: int
    fee_minor: int
    amount_minor: int
    reason: str
    disposition: Disposition


class StoreCreditView(msgspec.Struct, frozen=True):
    code: str
    amount_minor: int


class ReturnQuote(msgspec.Struct, frozen=True):
    """What a return would do, shown before confirming: amounts, fees, where the money goes,
    the flags it would carry and whether a manager must make it (and by which rule)."""

    kind: ReturnKind
    order_id: str | None
    currency: str
    lines: list[ReturnedLineView]
    fee_minor: int
    amount_minor: int
    refund_to: RefundTo
    flags: list[str]
    manager_rule: str | None


class ReturnView(msgspec.Struct, frozen=True):
    return_id: str
    kind: ReturnKind
    order_id: str | None
    receipt_number: str | None
    lane_id: str
    currency: str
    lines: list[ReturnedLineView]
    fee_minor: int
    amount_minor: int
    refund_to: RefundTo
    flags: list[str]
    refund: RefundView | None
    store_credit: StoreCreditView | None
    exchange_order_id: str | None
    business_date: str


class ExchangeView(msgspec.Struct, frozen=True):
    returned: ReturnView
    sold: OrderView
    # > 0 the customer paid it (the sale's tenders); < 0 it went back (`returned`); 0: even.
    difference_minor: int


class ReturnReceiptLine(msgspec.Struct, frozen=True):
    text: str
    qty_text: str
    reason: str
    disposition: str
    fee_text: str | None
    amount_text: str


class ReturnReceiptMoney(msgspec.Struct, frozen=True):
    text: str
    detail: str
    amount_text: str


class ReturnReceiptView(msgspec.Struct, frozen=True):
    store_name: str
    store_id: str
    lane_id: str
    return_id: str
    original_receipt_number: str | None
    business_date: str
    currency: str
    lines: list[ReturnReceiptLine]
    fee_text: str | None
    total_text: str
    money: list[ReturnReceiptMoney]
    flags: list[str]


# --- HQ (the relay's read side) ----------------------------------------------------------

# Flags HQ adds from what it sees across stores.
HqFlag = Literal["receipt_returned_at_several_stores", "velocity_exceeded_across_stores"]


class HqReturn(msgspec.Struct, frozen=True):
    store_id: str
    seq: int
    business_date: str
    recorded_at_ms: int
    return_id: str
    kind: ReturnKind
    order_id: str | None
    receipt_number: str | None
    lane_id: str
    currency: str
    amount_minor: int
    fee_minor: int
    refund_to: RefundTo
    store_credit_minor: int
    exchange_order_id: str | None
    approved_by_role: str
    # The store's flags (recorded on the event) and HQ's, together.
    flags: list[str]


class HqReturns(msgspec.Struct, frozen=True):
    tenant_id: str
    returns: list[HqReturn]  # by store, then the store's log order
