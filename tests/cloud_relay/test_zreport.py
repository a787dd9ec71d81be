"""The Z report is a pure function: order does not matter, days add up, other events and
other days are ignored; refunds are counted once, on the day the money went back, under the
tender they went back to; per tender, the nets add up to what the day's sales kept less what
its refunds returned."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from core.zreport import UNKNOWN_TENDER, DayEvent, z_report
from schemas.events import (
    CartOpened,
    OrderRefundCreated,
    PaymentForwardDeclined,
    PaymentRefunded,
    PaymentRefundFailed,
    RefundAllocation,
    SaleCompleted,
    SoldTender,
)

DAY, NEXT_DAY = "2026-03-02", "2026-03-03"
KINDS = ["cash", "card", "voucher", "other"]


@st.composite
def sales(draw, day: str = DAY) -> DayEvent:
    tenders = draw(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(1, 10**6)),
                            min_size=1, max_size=3))
    subtotal = draw(st.integers(0, 10**6))
    discount = draw(st.integers(0, subtotal))
    tax = draw(st.integers(0, subtotal - discount))
    total = subtotal - discount
    cash = sum(a for k, a in tenders if k == "cash")
    body = SaleCompleted(
        order_id="o", cart_id="c", receipt_number="r", lane_id="lane-1", completed_at_ms=1,
        business_date=day, currency="EUR", tax_mode="inclusive", lines=(),
        tenders=tuple(SoldTender(i, kind, amount) for i, (kind, amount) in enumerate(tenders)),
        subtotal_minor=subtotal, discount_minor=discount, tax_minor=tax, total_minor=total,
        tendered_minor=sum(a for _, a in tenders),
        # Change only ever comes out of cash.
        change_due_minor=draw(st.integers(0, min(cash, 1000))))
    return DayEvent(day, body)


# A refund's parts: (tender type, amount, the terminal refused it — card parts only).
refund_parts = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(1, 10**5), st.booleans()),
                        min_size=1, max_size=3)


def refund(refund_id: str, parts: list[tuple[str, int, bool]], day: str = DAY) -> list[DayEvent]:
    """One refund: its `order.refund_created` and the money returned per tender. Local parts
    (cash, voucher, other) go back at once; card parts via the terminal, which may refuse."""
    allocations = tuple(RefundAllocation(f"{refund_id}-p{i}", kind, amount)
                        for i, (kind, amount, _) in enumerate(parts))
    created = OrderRefundCreated(
        refund_id=refund_id, order_id="o", lane_id="lane-1",
        amount_minor=sum(a for _, a, _ in parts), lines=(), allocations=allocations,
        approved_by_role="manager")
    out = [DayEvent(day, created)]
    for a, (_, _, refused) in zip(allocations, parts):
        via = "terminal" if a.tender_type == "card" else "local"
        if a.tender_type == "card" and refused:
            out.append(DayEvent(day, PaymentRefundFailed(a.payment_id, refund_id, via)))
            continue
        out.append(DayEvent(day, PaymentRefunded(a.payment_id, refund_id, a.amount_minor, via)))
    return out


def refunds(prefix: str, drawn: list) -> list[DayEvent]:
    return [e for i, parts in enumerate(drawn) for e in refund(f"{prefix}{i}", parts)]


def _tenders(report) -> dict[str, tuple[int, ...]]:
    return {t.tender_type: (t.count, t.amount_minor, t.change_minor, t.refunds_count,
                            t.refunded_minor, t.net_minor) for t in report.tenders}


def _totals(report) -> tuple[int, ...]:
    return (report.sales_count, report.gross_minor, report.discount_minor, report.total_minor,
            report.tax_minor, report.net_minor, report.change_due_minor, report.rounding_minor,
            report.refunds_count, report.refunds_minor, report.forward_declined_count,
            report.forward_declined_minor)


def _returned(events: list[DayEvent]) -> dict[str, int]:
    """Money returned per tender type, straight from the refund facts."""
    kinds = {(e.body.refund_id, a.payment_id): a.tender_type for e in events
             if isinstance(e.body, OrderRefundCreated) for a in e.body.allocations}
    out: dict[str, int] = {}
    for e in events:
        if isinstance(e.body, PaymentRefunded):
            kind = kinds[(e.body.refund_id, e.body.payment_id)]
            out[kind] = out.get(kind, 0) + e.body.amount_minor
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(sales(), max_size=6), st.lists(sales(), max_size=6),
       st.lists(refund_parts, max_size=3), st.lists(refund_parts, max_size=3), st.randoms())
def test_reports_add_up_and_ignore_order(a, b, ra, rb, rnd) -> None:
    ra_events, rb_events = refunds("ra", ra), refunds("rb", rb)
    noise = [DayEvent(DAY, CartOpened(cart_id="c", lane_id="l", currency="EUR",
                                      opened_at_ms=1))]
    other_day = [DayEvent(NEXT_DAY, msgspec.structs.replace(a[0].body,
                                                            business_date=NEXT_DAY))] if a else []
    other_day += [DayEvent(NEXT_DAY, PaymentRefunded("px", "rx", 5, "local"))]
    both = a + b + ra_events + rb_events + noise + other_day
    rnd.shuffle(both)
    whole = z_report("s1", DAY, both)
    left, right = z_report("s1", DAY, a + ra_events), z_report("s1", DAY, b + rb_events)
    assert _totals(whole) == tuple(x + y for x, y in zip(_totals(left), _totals(right)))
    tl, tr, tw = _tenders(left), _tenders(right), _tenders(whole)
    assert tw == {k: tuple(x + y for x, y in zip(tl.get(k, (0,) * 6), tr.get(k, (0,) * 6)))
                  for k in set(tl) | set(tr)}
    assert [t.tender_type for t in whole.tenders] == sorted(tw)
    assert whole.net_minor == whole.total_minor - whole.tax_minor
    # Money: per tender, what was tendered less change less refunds; and in all, what the
    # sales kept (totals plus cash rounding) less what the refunds returned.
    assert sum(t.net_minor for t in whole.tenders) == (
        whole.total_minor + whole.rounding_minor - whole.refunds_minor)
    for t in whole.tenders:
        assert t.net_minor == t.amount_minor - t.change_minor - t.refunded_minor
    assert {k: v[4] for k, v in tw.items() if v[4]} == _returned(ra_events + rb_events)
    assert UNKNOWN_TENDER not in tw
    assert z_report("s1", DAY, list(reversed(both))) == whole


@settings(max_examples=40, deadline=None)
@given(st.lists(refund_parts, min_size=1, max_size=4), st.randoms(), st.data())
def test_a_refund_is_counted_once_on_the_day_its_money_went_back(drawn, rnd, data) -> None:
    """Card parts may complete on a later day than the refund was asked; delivered twice
    (an overlapping copy), a fact still counts once; over the days, every fact exactly once."""
    spread: list[DayEvent] = []
    for e in refunds("r", drawn):
        late = isinstance(e.body, PaymentRefunded) and e.body.via == "terminal"
        day = NEXT_DAY if late and data.draw(st.booleans()) else DAY
        spread.append(DayEvent(day, e.body))
    doubled = spread + spread
    rnd.shuffle(doubled)
    days = [z_report("s1", d, doubled) for d in (DAY, NEXT_DAY)]
    facts = {(e.body.refund_id, e.body.payment_id): e.body.amount_minor
             for e in spread if isinstance(e.body, PaymentRefunded)}
    assert sum(r.refunds_count for r in days) == len(facts)
    assert sum(r.refunds_minor for r in days) == sum(facts.values())
    assert days == [z_report("s1", d, spread) for d in (DAY, NEXT_DAY)]
    # The later day does not carry the refund's `order.refund_created` (it is the day before):
    # a terminal refund is a card refund whatever the reader passed.
    only_next = [e for e in spread if e.business_date == NEXT_DAY]
    assert z_report("s1", NEXT_DAY, only_next) == days[1]
    for r in days:
        assert {t.tender_type for t in r.tenders if t.refunds_count} <= set(KINDS)


def test_forward_declines_are_counted_once_and_kept_apart_from_the_card_net() -> None:
    sale = SaleCompleted(
        order_id="o", cart_id="c", receipt_number="r", lane_id="lane-1", completed_at_ms=1,
        business_date=DAY, currency="EUR", tax_mode="inclusive", lines=(),
        tenders=(SoldTender(1, "card", 700),), subtotal_minor=700, discount_minor=0,
        tax_minor=0, total_minor=700, tendered_minor=700, change_due_minor=0)
    declined = PaymentForwardDeclined(payment_id="p1", amount_minor=700, reason="declined")
    events = [DayEvent(DAY, sale), DayEvent(DAY, declined), DayEvent(DAY, declined),
              DayEvent(NEXT_DAY, PaymentForwardDeclined("p2", 300, "aged out"))]
    report = z_report("s1", DAY, events)
    assert (report.forward_declined_count, report.forward_declined_minor) == (1, 700)
    assert [(t.tender_type, t.net_minor) for t in report.tenders] == [("card", 700)]
    nxt = z_report("s1", NEXT_DAY, events)
    assert (nxt.sales_count, nxt.forward_declined_count, nxt.forward_declined_minor) == (0, 1, 300)


def test_a_local_refund_without_its_allocation_is_reported_not_dropped() -> None:
    report = z_report("s1", DAY, [DayEvent(DAY, PaymentRefunded("p", "r", 250, "local"))])
    assert [(t.tender_type, t.refunded_minor, t.net_minor) for t in report.tenders] == [
        (UNKNOWN_TENDER, 250, -250)]
    assert (report.refunds_count, report.refunds_minor, report.currency) == (1, 250, None)
