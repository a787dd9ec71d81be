"""HTTP contracts of the edge daemon's `/v1` API (lanes and the store's admin tools).

Requests are validated here at the boundary (types, ranges, unknown fields refused); views are
what the daemon answers. Money is integer minor units with the cart's ISO 4217 currency.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from schemas.approvals import ApprovalNeeded
from schemas.fiscal import FiscalStamp
from schemas.printing import ReceiptPrint
from schemas.text import free_text

Qty = Annotated[int, msgspec.Meta(ge=1, le=9_999, description="Whole units, for products sold each")]
QtyMilli = Annotated[
    int, msgspec.Meta(ge=1, le=1_000_000, description="Milli-units (grams), for products sold by weight")
]
# Free text typed by people: no control characters, never a card number (schemas.text).
Reason = free_text(max_length=200)
LookupCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
VoucherCode = Annotated[str, msgspec.Meta(min_length=6, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]


# --- requests ----------------------------------------------------------------------------


class OpenCart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: Reason = ""


class AddLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Exactly one of `sku` or `barcode` (else 400). `qty` for each-items, `qty_milli` for
    weighed ones, at most one of them (else 400); neither means one unit of an each-item (a
    weighed item needs `qty_milli`: 422 invalid-input)."""

    sku: LookupCode | None = None
    barcode: LookupCode | None = None
    qty: Qty | None = None
    qty_milli: QtyMilli | None = None

    def __post_init__(self) -> None:
        if (self.sku is None) == (self.barcode is None):
            raise ValueError("give exactly one of sku or barcode")
        if self.qty is not None and self.qty_milli is not None:
            raise ValueError("give at most one of qty or qty_milli")


class ChangeQty(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Exactly one of `qty` (each-items) or `qty_milli` (weighed items): the new quantity.
    Nothing is defaulted: `{}` or `{"qty": null}` is 400 and changes nothing."""

    qty: Qty | None = None
    qty_milli: QtyMilli | None = None

    def __post_init__(self) -> None:
        if (self.qty is None) == (self.qty_milli is None):
            raise ValueError("give exactly one of qty or qty_milli")


class ApplyDiscount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A line discount when `line_id` is set, else a cart discount; replaces the previous one."""

    kind: Literal["amount", "percent"]
    value: Annotated[int, msgspec.Meta(ge=0, le=10**9, description="minor units, or basis points for percent")]
    line_id: Annotated[int, msgspec.Meta(ge=1)] | None = None
    reason: Reason = ""


class EnterCoupon(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A coupon code for a promotion of the active bundle (case and blanks do not matter)."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AddTender(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Cash (may exceed what is due: change), card (charged on the store's terminal), voucher
    (gift card / store credit, by code), other (manual, e.g. a cheque: needs a reference) or
    points (the cart's loyalty customer pays in points, at the configured value per point)."""

    tender_type: Literal["cash", "card", "voucher", "other", "points"]
    amount_minor: Annotated[int, msgspec.Meta(ge=1, le=10**10)]
    voucher_code: VoucherCode | None = None
    reference: free_text(min_length=1, max_length=64) | None = None
    # Card only. "now": a sale (authorization and capture in one terminal command).
    # "deferred": a pre-authorization holds the amount on the card; completing the cart books
    # what the sale needs from it (at most the hold), removing the tender releases the hold.
    capture: Literal["now", "deferred"] = "now"


class VoidCart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Reason = ""


class CompleteCart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class RepriceCart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class IssueVoucher(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Issue a gift card / store credit voucher (manager): a liability the store owes."""

    amount_minor: Annotated[int, msgspec.Meta(ge=1, le=10**8)]
    code: VoucherCode | None = None
    reason: Reason = ""


OrderLineNo = Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class RefundLineRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One order line to refund, by its `line_id` in the order view: exactly one of `qty`
    (each-items) or `qty_milli` (weighed). `line_no` is the deprecated name of `line_id`
    (accepted for one release; give one of them)."""

    line_id: OrderLineNo | None = None
    qty: Qty | None = None
    qty_milli: QtyMilli | None = None
    line_no: Annotated[int, msgspec.Meta(
        ge=1, le=10_000, extra_json_schema={"deprecated": True},
        description="Deprecated: the old name of line_id")] | None = None

    def __post_init__(self) -> None:
        if (self.line_id is None) == (self.line_no is None):
            raise ValueError("give line_id (the order line's id)")
        if (self.qty is None) == (self.qty_milli is None):
            raise ValueError("give exactly one of qty or qty_milli")

    @property
    def order_line(self) -> int:
        return self.line_id if self.line_id is not None else self.line_no  # type: ignore[return-value]


class RefundOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Refund a whole order (`lines` omitted) or some of its lines, to the original tenders."""

    lines: Annotated[list[RefundLineRequest], msgspec.Meta(min_length=1, max_length=500)] | None = None
    reason: Reason = ""


class ForwardStored(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


# --- views -------------------------------------------------------------------------------


class DiscountView(msgspec.Struct, frozen=True):
    kind: Literal["amount", "percent"]
    value: int


class PriceLockView(msgspec.Struct, frozen=True):
    expires_at: datetime
    locked: bool
    # The catalog price now differs from the locked one: the line re-prices once the lock ends.
    would_reprice: bool
    current_unit_price_minor: int | None
    current_price_version: int | None


class LinePromotionView(msgspec.Struct, frozen=True):
    rule_id: str
    name: str
    discount_minor: int


class PromotionView(msgspec.Struct, frozen=True):
    """A promotion the cart gets: what it saves and on which lines."""

    rule_id: str
    name: str
    kind: str
    discount_minor: int
    line_ids: list[int]
    coupon_code: str | None = None


class CartLineView(msgspec.Struct, frozen=True):
    line_id: int
    sku: str
    product_id: str
    name: str
    sold_by: Literal["each", "weight"]
    qty_milli: int
    unit_price_minor: int
    price_version: int
    price_lock: PriceLockView
    discount: DiscountView | None
    tax_rate_ppm: int
    gross_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    # What each promotion took off this line (part of discount_minor), and their sum.
    promotions: list[LinePromotionView] = []
    promotion_minor: int = 0


class TenderReference(msgspec.Struct, frozen=True, omit_defaults=True):
    """How a tender can be traced: the card's gateway reference (never a PAN), the voucher
    (masked) or the manual reference of an "other" tender."""

    masked_pan: str | None = None
    card_brand: str | None = None
    approval_code: str | None = None
    terminal_id: str | None = None
    trace_no: int | None = None
    receipt_no: int | None = None
    voucher: str | None = None
    reference: str | None = None


class TenderView(msgspec.Struct, frozen=True):
    tender_id: int
    tender_type: str
    amount_minor: int
    payment_id: str | None = None
    state: str = "captured"
    captured_minor: int = 0
    reference: TenderReference | None = None


class CartView(msgspec.Struct, frozen=True):
    cart_id: str
    lane_id: str
    status: Literal["open", "completed", "voided"]
    currency: str
    tax_mode: Literal["inclusive", "exclusive"]
    lines: list[CartLineView]
    discount: DiscountView | None
    tenders: list[TenderView]
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    tendered_minor: int
    amount_due_minor: int
    change_due_minor: int
    lines_to_reprice: list[int]
    order_id: str | None
    # Cash rounding of the cash due (see docs/tender.md): money kept = total + rounding.
    rounding_minor: int = 0
    # Promotions (docs/promotions.md): each one applied, what they saved in all (part of
    # discount_minor), the bundle they came from, and the coupon codes entered.
    promotions: list[PromotionView] = []
    promotion_saving_minor: int = 0
    promotion_bundle_version: int | None = None
    coupons: list[str] = []


class OrderLineView(msgspec.Struct, frozen=True):
    """A sold line. `line_id` is its number in the order (1..n, as printed on the receipt; a
    cart's removed lines leave no gap here), what a refund names."""

    line_id: int
    line_no: Annotated[int, msgspec.Meta(extra_json_schema={"deprecated": True},
                                   description="Deprecated alias of line_id (same value); removed "
                                   "in the next release")]
    sku: str
    product_id: str
    name: str
    qty_milli: int
    unit_price_minor: int
    price_version: int
    sold_under_lock: bool
    tax_rate_ppm: int
    gross_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    # What promotions took off the line (part of discount_minor). `total_minor` is what was
    # paid for the line after every allocation: what a return gives back (docs/promotions.md).
    promotions: list[LinePromotionView] = []
    promotion_minor: int = 0


class OrderTenderView(msgspec.Struct, frozen=True):
    tender_id: int
    tender_no: Annotated[int, msgspec.Meta(extra_json_schema={"deprecated": True},
                                   description="Deprecated alias of tender_id (same value); removed "
                                   "in the next release")]
    tender_type: str
    amount_minor: int
    payment_id: str | None = None
    state: str = "captured"
    change_minor: int = 0
    refunded_minor: int = 0
    reference: TenderReference | None = None


class OrderView(msgspec.Struct, frozen=True):
    order_id: str
    receipt_number: str
    cart_id: str
    lane_id: str
    completed_at: datetime
    business_date: str
    currency: str
    tax_mode: Literal["inclusive", "exclusive"]
    lines: list[OrderLineView]
    tenders: list[OrderTenderView]
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    tendered_minor: int
    change_due_minor: int
    rounding_minor: int = 0
    refunded_minor: int = 0
    # The latest receipt print job of the order; null when its lane has no printer.
    receipt_print: ReceiptPrint | None = None


class ReceiptLine(msgspec.Struct, frozen=True):
    text: str
    qty_text: str
    amount_text: str
    # Card tenders only (never a PAN): what the printer prints under the tender line.
    card_brand: str | None = None
    masked_pan: str | None = None
    approval_code: str | None = None
    # The amounts behind the texts, in minor units of the receipt's currency.
    amount_minor: int = 0
    qty_milli: int | None = None  # item lines
    unit_price_minor: int | None = None  # item lines


class ReceiptTaxRow(msgspec.Struct, frozen=True):
    rate_text: str
    net_minor: int
    tax_minor: int


class ReceiptView(msgspec.Struct, frozen=True):
    """Everything a printer driver needs to render the receipt, already formatted."""

    store_name: str
    store_id: str
    lane_id: str
    receipt_number: str
    order_id: str
    local_time: str
    business_date: str
    currency: str
    lines: list[ReceiptLine]
    taxes: list[ReceiptTaxRow]
    subtotal_text: str
    discount_text: str | None
    tax_text: str
    total_text: str
    tenders: list[ReceiptLine]
    change_text: str
    barcode: str
    rounding_text: str | None = None
    # "You saved" with promotions: their sum, when any applied.
    promotion_saving_text: str | None = None
    # The fiscal signature (or the signer outage) of the sale, when the store signs.
    fiscal: FiscalStamp | None = None
    # The amounts behind the texts, in minor units of `currency` (the texts are for printing).
    subtotal_minor: int = 0
    discount_minor: int = 0
    tax_minor: int = 0
    total_minor: int = 0
    change_minor: int = 0
    rounding_minor: int = 0


class VoucherView(msgspec.Struct, frozen=True):
    code: str
    currency: str
    issued_minor: int
    balance_minor: int


class PaymentView(msgspec.Struct, frozen=True):
    payment_id: str
    cart_id: str
    tender_id: int
    order_id: str | None
    lane_id: str
    tender_type: str
    state: str
    currency: str
    amount_minor: int
    captured_minor: int
    change_minor: int
    refunded_minor: int
    pending_refund_minor: int
    reference: TenderReference | None


class RefundAllocationView(msgspec.Struct, frozen=True):
    payment_id: str
    tender_type: str
    amount_minor: int
    # refunded, refund_pending (outcome unknown: reconciled with the terminal), or failed.
    state: Literal["refunded", "refund_pending", "failed"]
    reference: TenderReference | None = None


class RefundView(msgspec.Struct, frozen=True):
    refund_id: str
    order_id: str
    currency: str
    amount_minor: int
    refunded_minor: int
    lines: list[dict[str, int]]
    allocations: list[RefundAllocationView]


class ForwardResult(msgspec.Struct, frozen=True):
    forwarded: int
    forward_declined: int
    stored_count: int
    stored_minor: int


class ProductView(msgspec.Struct, frozen=True):
    sku: str
    product_id: str
    name: str
    sold_by: Literal["each", "weight"]
    attributes: dict[str, str]
    barcodes: list[str]
    tax_class: str
    tax_rate_ppm: int
    unit_price_minor: int | None
    price_version: int | None


class CatalogImportResult(msgspec.Struct, frozen=True):
    tax_classes: int
    products: int
    prices: int
    events: int
    last_seq: int


class Health(msgspec.Struct, frozen=True):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, str] = {}


# --- problems (RFC 9457) -----------------------------------------------------------------


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
    lines: list[int] | None = None
    amount_due_minor: int | None = None
    payment_id: str | None = None
    state: str | None = None
    # 403 approval-required: what needs approving (docs/approvals.md).
    approval: ApprovalNeeded | None = None
