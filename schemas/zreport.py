"""The end-of-day (Z) report: ONE pure function over decoded event bodies.

The edge computes it over its own log and the relay over its copy of the same events; both call
`z_report`, so "the relay's reconciliation equals the store's Z report" is a comparison of two
runs of the same code over two copies of the data, not of two implementations.

Definitions (integer minor units, one currency per store):
- `sales_count`: `sale.completed` events of the day.
- `gross_minor`: Σ `subtotal_minor` (line prices before discounts).
- `discount_minor`: Σ `discount_minor`.
- `total_minor`: Σ `total_minor`, what customers owed (tax included in both tax modes).
- `tax_minor`: Σ `tax_minor`; `net_minor` = `total_minor` − `tax_minor` (revenue before tax).
- `tenders`: per tender type, count and Σ amount tendered; `change_due_minor`: Σ change given
  back (cash in the drawer from sales = cash tendered − change due).
- `refunds_count` / `refunds_minor`: refund events of the day. No refund event type exists in
  `schemas.events` yet; when one is added, its branch goes here (count it, add its amount to
  `refunds_minor`, subtract its tenders per type) and both sides pick it up at once.
Bodies of any other type (carts, catalog, types this build does not know) are ignored, so a
report never fails on an event it cannot interpret.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from schemas.events import EventBody, SaleCompleted

# The event types a Z report reads: a reader (the relay) need fetch only these. A refund type,
# once it exists, is added here and handled in `z_report`.
ZREPORT_TYPES: tuple[str, ...] = (SaleCompleted.TYPE,)


class TenderTotal(msgspec.Struct, frozen=True):
    tender_type: str
    count: int
    amount_minor: int


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
    refunds_count: int = 0
    refunds_minor: int = 0


def z_report(store_id: str, business_date: str, bodies: Iterable[EventBody]) -> ZReport:
    """The Z report of one store's business day from that day's event bodies (any order)."""
    count = gross = discount = total = tax = change = 0
    currency: str | None = None
    tenders: dict[str, list[int]] = {}
    for body in bodies:
        if not isinstance(body, SaleCompleted) or body.business_date != business_date:
            continue
        count += 1
        currency = currency or body.currency
        gross += body.subtotal_minor
        discount += body.discount_minor
        total += body.total_minor
        tax += body.tax_minor
        change += body.change_due_minor
        for tender in body.tenders:
            acc = tenders.setdefault(tender.tender_type, [0, 0])
            acc[0] += 1
            acc[1] += tender.amount_minor
    return ZReport(
        store_id=store_id, business_date=business_date, currency=currency, sales_count=count,
        gross_minor=gross, discount_minor=discount, total_minor=total, tax_minor=tax,
        net_minor=total - tax,
        tenders=[TenderTotal(kind, n, amount) for kind, (n, amount) in sorted(tenders.items())],
        change_due_minor=change,
    )
