"""The Z report is a pure function: order does not matter, days add up, other events and
other days are ignored."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import CartOpened, SaleCompleted, SoldTender
from schemas.zreport import z_report

DAY = "2026-03-02"


@st.composite
def sales(draw, day: str = DAY) -> SaleCompleted:
    tenders = draw(st.lists(st.tuples(st.sampled_from(["cash", "card", "voucher"]),
                                      st.integers(1, 10**6)), min_size=1, max_size=3))
    subtotal = draw(st.integers(0, 10**6))
    discount = draw(st.integers(0, subtotal))
    tax = draw(st.integers(0, subtotal - discount))
    total = subtotal - discount
    return SaleCompleted(
        order_id="o", cart_id="c", receipt_number="r", lane_id="lane-1", completed_at_ms=1,
        business_date=day, currency="EUR", tax_mode="inclusive", lines=(),
        tenders=tuple(SoldTender(i, kind, amount) for i, (kind, amount) in enumerate(tenders)),
        subtotal_minor=subtotal, discount_minor=discount, tax_minor=tax, total_minor=total,
        tendered_minor=sum(a for _, a in tenders),
        change_due_minor=draw(st.integers(0, 1000)))


def _totals(report):
    return (report.sales_count, report.gross_minor, report.discount_minor, report.total_minor,
            report.tax_minor, report.net_minor, report.change_due_minor,
            {t.tender_type: (t.count, t.amount_minor) for t in report.tenders})


@settings(max_examples=50)
@given(st.lists(sales(), max_size=8), st.lists(sales(), max_size=8), st.randoms())
def test_reports_add_up_and_ignore_order(a, b, rnd) -> None:
    noise = [CartOpened(cart_id="c", lane_id="l", currency="EUR", opened_at_ms=1)]
    other_day = [msgspec.structs.replace(a[0], business_date="2026-03-03")] if a else []
    both = a + b + noise + other_day
    rnd.shuffle(both)
    whole = z_report("s1", DAY, both)
    ra, rb = z_report("s1", DAY, a), z_report("s1", DAY, b)
    ta, tb, tw = _totals(ra), _totals(rb), _totals(whole)
    assert tw[:7] == tuple(x + y for x, y in zip(ta[:7], tb[:7]))
    kinds = set(ta[7]) | set(tb[7])
    assert tw[7] == {k: tuple(x + y for x, y in zip(ta[7].get(k, (0, 0)), tb[7].get(k, (0, 0))))
                     for k in kinds}
    assert whole.net_minor == whole.total_minor - whole.tax_minor
    assert [t.tender_type for t in whole.tenders] == sorted(kinds)
    assert z_report("s1", DAY, reversed(both)) == whole
