"""Till read models: sessions (open/closed, expected cash kept up to date), their movements,
and each till's last Z number. The movement rule is `edge.tills.report.movement_of`, the one
the reports apply to the log."""

from __future__ import annotations

from edge.store.projector import Registrations
from edge.tills.report import movement_of
from edge.tills.session import SIGN
from schemas import cash as c
from schemas import events as ev
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {
    "till_sessions": "session_id",
    "till_movements": "session_id, seq",
    "till_z_numbers": "till_id",
}


def _record(conn, session_id: str, stored: Event, m, *, movement_id=None, reason="", by=None):
    conn.execute(
        "INSERT INTO till_movements(session_id, seq, kind, amount_minor, movement_id, reason, "
        "by) VALUES (?,?,?,?,?,?,?)",
        (session_id, stored.seq, m.kind, m.amount_minor, movement_id, reason, by))
    conn.execute("UPDATE till_sessions SET expected_minor = expected_minor + ? "
                 "WHERE session_id = ?", (SIGN[m.kind] * m.amount_minor, session_id))


def _open_at(conn, lane_id: str | None) -> str | None:
    rows = conn.execute("SELECT session_id FROM till_sessions WHERE lane_id = ? AND "
                        "state = 'open'", (lane_id,)).fetchall()
    return rows[0][0] if rows else None


@PROJECTIONS.on(c.TillOpened)
def _opened(conn, stored: Event, b: c.TillOpened) -> None:
    conn.execute(
        "INSERT INTO till_sessions(session_id, till_id, lane_id, currency, state, float_minor, "
        "expected_minor, opened_seq, opened_at_ms, opened_by) VALUES (?,?,?,?,'open',?,?,?,?,?)",
        (b.session_id, b.till_id, b.lane_id, b.currency, b.float_minor, b.float_minor,
         stored.seq, b.opened_at_ms, b.opened_by))


@PROJECTIONS.on(ev.SaleCompleted)
def _sale(conn, stored: Event, b: ev.SaleCompleted) -> None:
    session = _open_at(conn, b.lane_id)
    if session is not None:
        m = movement_of(b, session, b.lane_id)
        assert m is not None
        _record(conn, session, stored, m)


@PROJECTIONS.on(ev.PaymentRefunded)
def _refunded(conn, stored: Event, b: ev.PaymentRefunded) -> None:
    rows = conn.execute(
        "SELECT r.lane_id FROM refund_allocations a JOIN refunds r USING (refund_id) "
        "WHERE a.refund_id = ? AND a.payment_id = ? AND a.tender_type = 'cash'",
        (b.refund_id, b.payment_id)).fetchall()
    if not rows:
        return
    session = _open_at(conn, rows[0][0])
    if session is not None:
        m = movement_of(b, session, rows[0][0], cash_refund=True)
        assert m is not None
        _record(conn, session, stored, m)


@PROJECTIONS.on(c.TillCashMoved)
def _moved(conn, stored: Event, b: c.TillCashMoved) -> None:
    m = movement_of(b, b.session_id, "")
    assert m is not None
    _record(conn, b.session_id, stored, m, movement_id=b.movement_id, reason=b.reason, by=b.by)


@PROJECTIONS.on(c.TillMoveConfirmed)
def _confirmed(conn, _stored: Event, b: c.TillMoveConfirmed) -> None:
    conn.execute("UPDATE till_movements SET confirmed_by = ? WHERE session_id = ? AND "
                 "movement_id = ?", (b.by, b.session_id, b.movement_id))


@PROJECTIONS.on(c.TillNoSale)
def _no_sale(conn, stored: Event, b: c.TillNoSale) -> None:
    m = movement_of(b, b.session_id, "")
    assert m is not None
    _record(conn, b.session_id, stored, m, reason=b.reason, by=b.by)


@PROJECTIONS.on(c.TillClosed)
def _closed(conn, stored: Event, b: c.TillClosed) -> None:
    conn.execute(
        "UPDATE till_sessions SET state = 'closed', closed_seq = ?, z_number = ?, "
        "counted_minor = ?, over_short_minor = ?, closed_by = ?, approved_by = ?, "
        "closed_at_ms = ?, business_date = ? WHERE session_id = ?",
        (stored.seq, b.z_number, b.counted_minor, b.over_short_minor, b.closed_by,
         b.approved_by, b.closed_at_ms, stored.business_date, b.session_id))
    conn.execute("INSERT INTO till_z_numbers(till_id, last_z) VALUES (?, ?) "
                 "ON CONFLICT(till_id) DO UPDATE SET last_z = excluded.last_z",
                 (b.till_id, b.z_number))
