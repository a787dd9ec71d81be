"""The store's Z report (and HQ's reconciliation, which runs the same function) lists every
till closing of the day, in any input order, once each, and sums their over/short."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from core.zreport import ZREPORT_TYPES, DayEvent, z_report
from schemas.cash import TillClosed, TillTotals


def _closing(till: str, z: int, over_short: int, total: int) -> TillClosed:
    t = TillTotals(float_minor=10000, sales_count=1, sales_total_minor=total,
                   cash_sales_minor=total, cash_refunds_minor=0, rounding_minor=0,
                   drops_minor=0, pickups_minor=0, pay_ins_minor=0, pay_outs_minor=0,
                   no_sales=0, expected_minor=10000 + total)
    return TillClosed(session_id=f"s-{till}-{z}", till_id=till, lane_id="lane-1", z_number=z,
                      first_seq=z * 10, last_seq=z * 10 + 5, counted=(),
                      counted_minor=10000 + total + over_short,
                      expected_minor=10000 + total, over_short_minor=over_short, totals=t,
                      closed_by="tok", approved_by=None, closed_at_ms=0)


def test_the_relay_fetches_till_closings() -> None:
    assert TillClosed.TYPE in ZREPORT_TYPES


@given(st.lists(st.tuples(st.sampled_from(["till-1", "till-2"]), st.integers(-500, 500),
                          st.integers(0, 10_000)), max_size=8), st.randoms())
def test_every_closing_of_the_day_once_in_any_order(rows, rnd: random.Random) -> None:
    z_of: dict[str, int] = {}
    events = []
    for till, diff, total in rows:
        z_of[till] = z_of.get(till, 0) + 1
        events.append(DayEvent("2026-03-02", _closing(till, z_of[till], diff, total)))
    events.append(DayEvent("2026-03-01", _closing("till-9", 1, 77, 1)))  # another day
    shuffled = events[:]
    rnd.shuffle(shuffled)
    a = z_report("s1", "2026-03-02", events)
    b = z_report("s1", "2026-03-02", shuffled + events[:1])  # a duplicate counts once
    assert a == b
    assert [(t.till_id, t.z_number) for t in a.tills] == sorted(
        (e.body.till_id, e.body.z_number) for e in events[:-1])
    assert a.over_short_minor == sum(d for _, d, _ in rows)
