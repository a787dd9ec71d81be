"""Till views: a session as the lane sees it (blind while open), the X report of an open
session (folded from the log now) and the Z report of a closing (as the log recorded it)."""

from __future__ import annotations

import apsw

from core import bodycodec
from core.errors import NotFound
from edge.tills import report, session
from edge.tills.commands import TillNotOpen, open_session
from schemas import cash as c
from schemas.events import decode_body


def _session_row(conn: apsw.Connection, till_id: str, session_id: str | None = None):
    sql = ("SELECT session_id, till_id, lane_id, state, currency, float_minor, opened_at_ms, "
           "expected_minor, z_number, counted_minor, over_short_minor, approved_by, closed_seq "
           "FROM till_sessions WHERE till_id = ?")
    args: tuple = (till_id,)
    if session_id is not None:
        sql, args = sql + " AND session_id = ?", (till_id, session_id)
    rows = conn.execute(sql + " ORDER BY opened_seq DESC LIMIT 1", args).fetchall()
    if not rows:
        raise NotFound(f"till {till_id} has never been opened")
    return rows[0]


def till_view(conn: apsw.Connection, till_id: str, safe_drop_above_minor: int,
              session_id: str | None = None) -> c.TillView:
    (sid, tid, lane, state, currency, float_minor, opened_at, expected, z, counted, diff,
     approved, closed_seq) = _session_row(conn, till_id, session_id)
    moves = [c.MovementView(*r) for r in conn.execute(
        "SELECT movement_id, kind, amount_minor, reason, by, confirmed_by FROM till_movements "
        "WHERE session_id = ? AND movement_id IS NOT NULL ORDER BY seq", (sid,))]
    closed = state == "closed"
    return c.TillView(
        session_id=sid, till_id=tid, lane_id=lane, state=state, currency=currency,
        float_minor=float_minor, opened_at_ms=opened_at, movements=moves,
        safe_drop_recommended=not closed and session.safe_drop_recommended(
            expected, safe_drop_above_minor),
        z_number=z, counted_minor=counted, expected_minor=expected if closed else None,
        over_short_minor=diff, approved_by=approved,
        totals=_closing(conn, closed_seq).totals if closed else None,
    )


def x_report(conn: apsw.Connection, till_id: str) -> c.TillReport:
    """The open session's figures, folded from the log up to its head."""
    s = open_session(conn, till_id)
    if s is None:
        raise TillNotOpen(f"till {till_id} is not open")
    head = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchall()[0][0]
    totals = session.totals(s.float_minor, report.movements(
        report.read_range(conn, s.opened_seq, head), s.session_id, s.lane_id))
    return c.TillReport(kind="X", session_id=s.session_id, till_id=till_id, lane_id=s.lane_id,
                        currency=s.currency, z_number=None, first_seq=s.opened_seq,
                        last_seq=head, totals=totals)


def _closing(conn: apsw.Connection, seq: int) -> c.TillClosed:
    rows = conn.execute("SELECT type, schema_version, body FROM events WHERE seq = ?",
                        (seq,)).fetchall()
    typ, version, stored = rows[0]
    body = decode_body(typ, version, bodycodec.decode(stored))
    assert isinstance(body, c.TillClosed)
    return body


def z_report(conn: apsw.Connection, till_id: str, z_number: int) -> c.TillReport:
    """The Z report of a till's closing number `z_number`, as its `till.closed` event says."""
    rows = conn.execute("SELECT closed_seq, currency FROM till_sessions WHERE till_id = ? AND "
                        "z_number = ?", (till_id, z_number)).fetchall()
    if not rows:
        raise NotFound(f"till {till_id} has no Z report number {z_number}")
    closing = _closing(conn, rows[0][0])
    return c.TillReport(kind="Z", session_id=closing.session_id, till_id=till_id,
                        lane_id=closing.lane_id, currency=rows[0][1], z_number=z_number,
                        first_seq=closing.first_seq, last_seq=closing.last_seq,
                        totals=closing.totals, counted_minor=closing.counted_minor,
                        over_short_minor=closing.over_short_minor)


def open_tills(conn: apsw.Connection) -> list[tuple[str, str, int]]:
    """(till_id, lane_id, expected_minor) of every open till."""
    return [tuple(r) for r in conn.execute(
        "SELECT till_id, lane_id, expected_minor FROM till_sessions WHERE state = 'open' "
        "ORDER BY till_id")]
