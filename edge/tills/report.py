"""A till session's movements read from the log alone: the X report of an open session and
the Z report of a closed one are `session.totals` over these.

Which events move a drawer (`movements`): a `sale.completed` rung on the till's lane (cash
tendered − change), a `payment.refunded` of a cash allocation whose refund was asked at that
lane, and the session's own `till.cash_moved` / `till.no_sale`. The projection applies the
same `movement_of` event by event, so the live expected cash and a report from the log are one
rule; a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable

import apsw

from core import bodycodec
from edge.tills.session import Movement, sale_movement
from schemas import cash as c
from schemas import events as ev
from schemas.events import EventBody, decode_body

# The event types a till report reads from the log.
REPORT_TYPES: tuple[str, ...] = (
    ev.SaleCompleted.TYPE, ev.OrderRefundCreated.TYPE, ev.PaymentRefunded.TYPE,
    c.TillCashMoved.TYPE, c.TillNoSale.TYPE,
)


def movement_of(body: EventBody, session_id: str, lane_id: str,
                cash_refund: bool = False) -> Movement | None:
    """The drawer movement one event makes in the session (`session_id` open at `lane_id`),
    or None. `cash_refund` says a `payment.refunded` paid back a cash allocation asked at the
    lane (the caller knows from the refund's allocation)."""
    if isinstance(body, ev.SaleCompleted):
        if body.lane_id != lane_id:
            return None
        cash = sum(t.amount_minor for t in body.tenders if t.tender_type == "cash")
        noncash = sum(t.amount_minor for t in body.tenders if t.tender_type != "cash")
        return sale_movement(cash, body.change_due_minor, body.total_minor, noncash)
    if isinstance(body, ev.PaymentRefunded):
        return Movement("refund", body.amount_minor) if cash_refund else None
    if isinstance(body, c.TillCashMoved) and body.session_id == session_id:
        return Movement(body.kind, body.amount_minor)
    if isinstance(body, c.TillNoSale) and body.session_id == session_id:
        return Movement("no_sale", 0)
    return None


def movements(events: Iterable[EventBody], session_id: str, lane_id: str) -> list[Movement]:
    """The session's movements among `events` (in log order, within the session's range)."""
    cash_refunds: set[tuple[str, str]] = set()
    out: list[Movement] = []
    for body in events:
        if isinstance(body, ev.OrderRefundCreated):
            if body.lane_id == lane_id:
                cash_refunds.update((body.refund_id, a.payment_id) for a in body.allocations
                                    if a.tender_type == "cash")
            continue
        is_cash = (isinstance(body, ev.PaymentRefunded)
                   and (body.refund_id, body.payment_id) in cash_refunds)
        m = movement_of(body, session_id, lane_id, is_cash)
        if m is not None:
            out.append(m)
    return out


def read_range(conn: apsw.Connection, first_seq: int, last_seq: int) -> list[EventBody]:
    """The report's event types between two seqs of the log (inclusive), decoded."""
    marks = ",".join("?" * len(REPORT_TYPES))
    rows = conn.execute(
        f"SELECT type, schema_version, body FROM events WHERE seq BETWEEN ? AND ? "
        f"AND type IN ({marks}) ORDER BY seq", (first_seq, last_seq, *REPORT_TYPES))
    return [decode_body(t, v, bodycodec.decode(b)) for t, v, b in rows]
