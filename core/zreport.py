"""The end-of-day (Z) report: ONE pure function over a business day's events.

The edge computes it over its own log (`edge.reports.zreport`) and the relay over its copy of the
same events (`cloud_relay.hq.reconciliation`); both call `z_report`, so "the relay's reconciliation
equals the store's Z report" is a comparison of two runs of the same code over two copies of
the data, not of two implementations.

Input: `DayEvent(business_date, body)` pairs, the business date being the one the store's log
recorded the event under (the envelope's, which a refund body does not carry). Readers pass the
day's events of `ZREPORT_TYPES`; events of other days and other types are ignored, except that
an `order.refund_created` of any day may be passed to name the tender of a refund (below).

Definitions (integer minor units, one currency per store):
- Sales (`sale.completed` of the day): `sales_count`; `gross_minor` Σ `subtotal_minor` (line
  prices before discounts); `discount_minor`; `total_minor` what customers owed (tax included
  in both tax modes); `tax_minor`; `net_minor` = `total_minor` − `tax_minor`.
- `tenders`: per tender type, `count` and `amount_minor` (Σ tendered), `change_minor` (change
  given back: it always comes out of cash), `refunds_count` / `refunded_minor` (money returned
  onto that tender type this day) and `net_minor` = amount − change − refunded: the money the
  day leaves on that tender (cash in the drawer from sales and refunds, for cash).
- `change_due_minor`: Σ change. `rounding_minor`: Σ (tendered − change − total), the money kept
  beyond the totals by cash rounding (|per sale| ≤ half the rounding increment).
- Refunds: the financial fact is `payment.refunded`, one per tender a refund paid money back
  onto, recorded when the money actually moved (cash, voucher and "other" at once, a card when
  its terminal approved, possibly on a later day than the refund was asked). `refunds_count`
  counts those facts, `refunds_minor` sums them. A refund asked but not (yet) paid back — card
  pending, `payment.refund_failed` — is not money returned and is not counted. Its tender type
  is the one `order.refund_created` allocated to that (refund, payment); local refunds (via
  "local") are always in the same transaction, hence the same day, as their
  `order.refund_created`; refunds through a terminal (via "terminal"/"reconciliation") are
  card refunds. A local refund whose allocation was not passed is reported under "unknown"
  (never dropped: the sums still hold).
- Returns (`return.completed` of the day): `returns_count` documents (receiptless ones also
  in `receiptless_returns_count`, exchanges in `exchanges_count`), `returned_minor` Σ what
  their lines gave back after fees, `restocking_fee_minor` Σ fees kept,
  `store_credit_issued_minor` Σ store credit issued as vouchers (no tender moves for it). The
  money a return put back onto tenders is an ordinary refund (its `order.refund_created` and
  `payment.refunded` facts); per tender, `returns_refunded_minor` is the part of
  `refunded_minor` whose refund belongs to a return (a `return.completed` of any day may be
  passed to name it, as for the refund tenders).
- `forward_declined_count` / `forward_declined_minor`: offline (stored) card payments the
  processor refused after forwarding, or that aged out, recorded this day: money the store
  believed it had (the sale counted it as card) but did not get. Not subtracted from the card
  net (the sale day's report is history); HQ lists each one as a follow-up.

Invariants (property-tested in `tests/cloud_relay/test_zreport.py`):
- Σ tender `net_minor` = `total_minor` + `rounding_minor` − `refunds_minor`.
- A refund fact is keyed by (refund_id, payment_id) and a forward decline by payment_id (the
  payment state machine allows one of each): given twice, it counts once; split over several
  days, each counts on exactly its own day, so days add up.
- The report does not depend on the order of its input.
- Till closings (`till.closed` of the day, docs/cash.md): each till's Z report, sorted by
  (till, Z number); `over_short_minor` is their sum. A store's end of day closes every till,
  so the day's sales rung at tills are exactly the sum of their closings' sales.
Bodies of any other type (carts, catalog, types this build does not know) are ignored, so a
report never fails on an event it cannot interpret.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from schemas.cash import TillClosed
from schemas.events import (
    EventBody,
    OrderRefundCreated,
    PaymentForwardDeclined,
    PaymentRefunded,
    SaleCompleted,
)
from schemas.returns import ReturnCompleted
from schemas.zreport import TenderTotal, TillClosing, ZReport

# The event types a Z report reads: a reader (the relay) need fetch only these, for the day.
ZREPORT_TYPES: tuple[str, ...] = (
    SaleCompleted.TYPE, OrderRefundCreated.TYPE, PaymentRefunded.TYPE,
    PaymentForwardDeclined.TYPE, ReturnCompleted.TYPE, TillClosed.TYPE,
)
UNKNOWN_TENDER = "unknown"
CARD_VIAS = frozenset({"terminal", "reconciliation"})


class DayEvent(NamedTuple):
    business_date: str  # the envelope's business date in the store's log
    body: EventBody


class _Tender:
    __slots__ = ("amount", "change", "count", "refunded", "refunds", "returned")

    def __init__(self) -> None:
        self.count = self.amount = self.change = self.refunds = self.refunded = 0
        self.returned = 0


def z_report(store_id: str, business_date: str, events: Iterable[DayEvent]) -> ZReport:
    """The Z report of one store's business day (input in any order)."""
    count = gross = discount = total = tax = change = rounding = 0
    currency: str | None = None
    tenders: dict[str, _Tender] = {}
    allocated: dict[tuple[str, str], str] = {}  # (refund_id, payment_id) -> tender type
    refunds: dict[tuple[str, str], PaymentRefunded] = {}
    declined: dict[str, int] = {}
    returns: dict[str, ReturnCompleted] = {}
    return_refunds: set[str] = set()  # refund ids that belong to a return (any day)
    tills: dict[tuple[str, int], TillClosing] = {}
    for day, body in events:
        if isinstance(body, ReturnCompleted):
            if body.refund_id is not None:
                return_refunds.add(body.refund_id)
            if day == business_date:
                returns[body.return_id] = body
            continue
        if isinstance(body, OrderRefundCreated):  # context of any day: names refund tenders
            for a in body.allocations:
                allocated[(body.refund_id, a.payment_id)] = a.tender_type
            continue
        if day != business_date:
            continue
        if isinstance(body, SaleCompleted):
            count += 1
            currency = currency or body.currency
            gross += body.subtotal_minor
            discount += body.discount_minor
            total += body.total_minor
            tax += body.tax_minor
            change += body.change_due_minor
            tendered = 0
            for tender in body.tenders:
                acc = tenders.setdefault(tender.tender_type, _Tender())
                acc.count += 1
                acc.amount += tender.amount_minor
                tendered += tender.amount_minor
            if body.change_due_minor:
                tenders.setdefault("cash", _Tender()).change += body.change_due_minor
            rounding += tendered - body.change_due_minor - body.total_minor
        elif isinstance(body, PaymentRefunded):
            refunds[(body.refund_id, body.payment_id)] = body
        elif isinstance(body, PaymentForwardDeclined):
            declined[body.payment_id] = body.amount_minor
        elif isinstance(body, TillClosed):
            t = body.totals
            tills[(body.till_id, body.z_number)] = TillClosing(
                till_id=body.till_id, lane_id=body.lane_id, z_number=body.z_number,
                first_seq=body.first_seq, last_seq=body.last_seq, sales_count=t.sales_count,
                sales_total_minor=t.sales_total_minor, cash_sales_minor=t.cash_sales_minor,
                cash_refunds_minor=t.cash_refunds_minor, expected_minor=body.expected_minor,
                counted_minor=body.counted_minor, over_short_minor=body.over_short_minor,
                approved_by=body.approved_by)
    for key, refund in refunds.items():
        kind = allocated.get(key) or ("card" if refund.via in CARD_VIAS else UNKNOWN_TENDER)
        acc = tenders.setdefault(kind, _Tender())
        acc.refunds += 1
        acc.refunded += refund.amount_minor
        if key[0] in return_refunds:
            acc.returned += refund.amount_minor
    return ZReport(
        store_id=store_id, business_date=business_date, currency=currency, sales_count=count,
        gross_minor=gross, discount_minor=discount, total_minor=total, tax_minor=tax,
        net_minor=total - tax,
        tenders=[TenderTotal(kind, t.count, t.amount, t.change, t.refunds, t.refunded,
                             t.amount - t.change - t.refunded, t.returned)
                 for kind, t in sorted(tenders.items())],
        change_due_minor=change, rounding_minor=rounding,
        refunds_count=len(refunds), refunds_minor=sum(r.amount_minor for r in refunds.values()),
        forward_declined_count=len(declined), forward_declined_minor=sum(declined.values()),
        returns_count=len(returns),
        receiptless_returns_count=sum(r.kind == "receiptless" for r in returns.values()),
        exchanges_count=sum(r.exchange_order_id is not None for r in returns.values()),
        returned_minor=sum(r.amount_minor for r in returns.values()),
        restocking_fee_minor=sum(r.fee_minor for r in returns.values()),
        store_credit_issued_minor=sum(r.store_credit_minor for r in returns.values()),
        tills=[tills[k] for k in sorted(tills)],
        over_short_minor=sum(t.over_short_minor for t in tills.values()),
    )
