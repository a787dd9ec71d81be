"""The end-of-day (Z) report's shape: what `core.zreport.z_report` computes, what the store's
`novapos-edge report z` / `GET /v1/reports/z` and HQ's `GET /v1/reconciliation` answer. The
definitions of every figure are in `core/zreport.py`."""

from __future__ import annotations

import msgspec


class TenderTotal(msgspec.Struct, frozen=True):
    tender_type: str
    count: int  # tenders of this type in the day's sales
    amount_minor: int  # Σ tendered
    change_minor: int
    refunds_count: int
    refunded_minor: int
    net_minor: int  # amount − change − refunded
    # Of refunded_minor: what returns and exchanges paid back onto this tender type.
    returns_refunded_minor: int = 0


class TillClosing(msgspec.Struct, frozen=True):
    """One till's closing (its Z report) within the store's day."""

    till_id: str
    lane_id: str
    z_number: int
    first_seq: int
    last_seq: int
    sales_count: int
    sales_total_minor: int
    cash_sales_minor: int
    cash_refunds_minor: int
    expected_minor: int
    counted_minor: int
    over_short_minor: int
    approved_by: str | None


class ZReport(msgspec.Struct, frozen=True):
    store_id: str
    business_date: str
    currency: str | None
    sales_count: int
    gross_minor: int
    discount_minor: int
    total_minor: int
    tax_minor: int
    net_minor: int
    tenders: list[TenderTotal]
    change_due_minor: int
    rounding_minor: int
    refunds_count: int
    refunds_minor: int
    forward_declined_count: int
    forward_declined_minor: int
    # Returns and exchanges (`return.completed` of the day): documents, receiptless ones,
    # exchanges among them, the value of the lines taken back (after fees), the restocking
    # fees kept and the store credit issued (vouchers; not money out of any tender).
    returns_count: int = 0
    receiptless_returns_count: int = 0
    exchanges_count: int = 0
    returned_minor: int = 0
    restocking_fee_minor: int = 0
    store_credit_issued_minor: int = 0
    # The day's till closings: the store's day is their aggregate (docs/cash.md).
    tills: list[TillClosing] = []
    over_short_minor: int = 0  # Σ of the tills' over/short
