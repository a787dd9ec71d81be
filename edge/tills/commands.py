"""Till commands: open with a counted float, move cash, confirm a drop or pickup, open the
drawer without a sale, close with a blind count. Each loads the session's read model, decides,
and appends one event inside the writer's savepoint; a refusal appends nothing.

Rules:
- a till has at most one open session and a lane at most one open till (the till's lane);
- the till's own lane works its session, a manager may work any till;
- a drop, pickup or pay-out cannot take more than the drawer is expected to hold;
- a drop or pickup is confirmed by a second person (another token than the one recording it),
  and a till closes only when all of them are confirmed;
- the close is blind (the counter never sees the expected amount before counting); its Z
  number is the till's last plus one, and it fences the log from the open to the close.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.ids import uuid7
from edge.approvals.rules import ApprovalPolicy, Facts
from edge.checklists.commands import open_closing_items
from edge.lanes import Principal
from edge.store.writer import Tx
from edge.tills import report, session
from edge.tills.approval import approved, approver
from edge.tills.settings import CashConfig
from schemas import cash as c


class TillNotOpen(Conflict):
    slug, title = "till-not-open", "The till has no open session"


class TillAlreadyOpen(Conflict):
    slug, title = "till-open", "The till (or this lane's till) is already open"


class InsufficientCash(Conflict):
    slug, title = "insufficient-cash", "The drawer is not expected to hold that much"


class UnconfirmedMovements(Conflict):
    slug, title = "movements-unconfirmed", "Drops or pickups await a second person"


@dataclass(frozen=True, slots=True)
class OpenSession:
    session_id: str
    till_id: str
    lane_id: str
    currency: str
    float_minor: int
    expected_minor: int
    opened_seq: int


def _stream(till_id: str) -> str:
    return f"till:{till_id}"


def _subject(s: OpenSession) -> str:
    """What an approval of a cash action is bound to: the till and its session."""
    return f"till:{s.till_id}/session:{s.session_id}"


def open_session(conn: apsw.Connection, till_id: str) -> OpenSession | None:
    rows = conn.execute(
        "SELECT session_id, till_id, lane_id, currency, float_minor, expected_minor, opened_seq "
        "FROM till_sessions WHERE till_id = ? AND state = 'open'", (till_id,)).fetchall()
    return OpenSession(*rows[0]) if rows else None


def _working(tx: Tx, who: Principal, till_id: str) -> OpenSession:
    s = open_session(tx.conn, till_id)
    if s is None:
        raise TillNotOpen(f"till {till_id} is not open")
    if s.lane_id != who.lane_id and not who.is_manager:
        raise Forbidden(f"till {till_id} is open at lane {s.lane_id}; only that lane or a "
                        "manager may work it")
    return s


def open_till(tx: Tx, who: Principal, cfg: CashConfig, currency: str, till_id: str,
              req: c.OpenTill) -> str:
    float_minor = session.count_total(req.float_count, cfg.denominations_of(currency))
    if open_session(tx.conn, till_id) is not None:
        raise TillAlreadyOpen(f"till {till_id} is already open")
    busy = tx.conn.execute("SELECT till_id FROM till_sessions WHERE lane_id = ? AND "
                           "state = 'open'", (who.lane_id,)).fetchall()
    if busy:
        raise TillAlreadyOpen(f"lane {who.lane_id} already has till {busy[0][0]} open")
    session_id = uuid7()
    tx.append(c.TillOpened(session_id=session_id, till_id=till_id, lane_id=who.lane_id,
                           currency=currency, float_count=tuple(req.float_count),
                           float_minor=float_minor, opened_by=who.token_id,
                           opened_at_ms=tx.now_ms),
              stream=_stream(till_id), lane_id=who.lane_id)
    return session_id


def move_cash(tx: Tx, who: Principal, cfg: CashConfig, till_id: str, req: c.MoveCash,
              approvals: ApprovalPolicy | None = None, token: str | None = None) -> str:
    s = _working(tx, who, till_id)
    if req.kind in ("pay_out", "pay_in") and not req.reason.strip():
        raise InvalidInput("a pay-in or pay-out needs a reason", field="reason")
    if session.SIGN[req.kind] < 0 and req.amount_minor > s.expected_minor:
        raise InsufficientCash(f"the drawer of till {till_id} is not expected to hold "
                               f"{req.amount_minor}")
    # Asked last, right before the event: nothing is approved that is refused anyway.
    if req.kind == "pay_out" and req.amount_minor > cfg.pay_out_manager_above_minor:
        approved(tx, who, approvals, Facts("cash_paid_out", amount_minor=req.amount_minor),
                 _subject(s), token, f"a pay-out of {req.amount_minor} from till {till_id}")
    movement_id = uuid7()
    tx.append(c.TillCashMoved(session_id=s.session_id, till_id=till_id, movement_id=movement_id,
                              kind=req.kind, amount_minor=req.amount_minor, reason=req.reason,
                              by=who.token_id),
              stream=_stream(till_id), lane_id=who.lane_id)
    return movement_id


def confirm(tx: Tx, who: Principal, till_id: str, movement_id: str) -> None:
    s = open_session(tx.conn, till_id)
    if s is None:
        raise TillNotOpen(f"till {till_id} is not open")
    rows = tx.conn.execute("SELECT kind, by, confirmed_by FROM till_movements WHERE "
                           "session_id = ? AND movement_id = ?",
                           (s.session_id, movement_id)).fetchall()
    if not rows or rows[0][0] not in c.TWO_PERSON_KINDS:
        raise NotFound(f"no drop or pickup {movement_id} in the open session of till {till_id}")
    kind, by, confirmed_by = rows[0]
    if confirmed_by is not None:
        raise Conflict(f"{kind} {movement_id} is already confirmed")
    if by == who.token_id:
        raise Forbidden(f"the {kind} must be confirmed by a second person, not the one who "
                        "recorded it")
    tx.append(c.TillMoveConfirmed(session_id=s.session_id, movement_id=movement_id,
                                  by=who.token_id),
              stream=_stream(till_id), lane_id=who.lane_id)


def no_sale(tx: Tx, who: Principal, cfg: CashConfig, till_id: str, req: c.NoSale,
            approvals: ApprovalPolicy | None = None, token: str | None = None) -> str:
    s = _working(tx, who, till_id)
    by = approved(tx, who, approvals, Facts("no_sale"), _subject(s), token,
                  f"opening the drawer of till {till_id} without a sale") \
        if cfg.no_sale_needs_manager else None
    tx.append(c.TillNoSale(session_id=s.session_id, till_id=till_id, reason=req.reason,
                           by=who.token_id, approved_by=by),
              stream=_stream(till_id), lane_id=who.lane_id)
    return s.lane_id


class CountMissing(Conflict):
    slug, title = "till-count-missing", "An open till has no count"


def end_of_day(tx: Tx, who: Principal, cfg: CashConfig, req: c.EndOfDay,
               approvals: ApprovalPolicy | None = None, token: str | None = None) -> list[str]:
    """Close every open till with its count, all or none (a missing count refuses the whole
    end of day). The tills' Z reports then make up the store's day (`core.zreport`). A till
    over or short beyond the threshold needs its approval like a single close; one token
    approves one till's close (a manager's token approves them all)."""
    left = open_closing_items(tx.conn, tx.business_date)
    if left:
        approver(who, f"closing the store with open closing checklist items ({', '.join(left)})")
    open_ids = [r[0] for r in tx.conn.execute(
        "SELECT till_id FROM till_sessions WHERE state = 'open' ORDER BY till_id")]
    missing = [t for t in open_ids if t not in req.counts]
    if missing:
        raise CountMissing(f"no count for the open till(s) {', '.join(missing)}")
    unknown = sorted(set(req.counts) - set(open_ids))
    if unknown:
        raise TillNotOpen(f"till(s) {', '.join(unknown)} are not open")
    for till_id in open_ids:
        close_till(tx, who, cfg, till_id, c.CloseTill(req.counts[till_id], req.note),
                   approvals, token)
    return open_ids


def close_till(tx: Tx, who: Principal, cfg: CashConfig, till_id: str, req: c.CloseTill,
               approvals: ApprovalPolicy | None = None, token: str | None = None) -> str:
    s = _working(tx, who, till_id)
    counted = session.count_total(req.counted, cfg.denominations_of(s.currency))
    waiting = tx.conn.execute(
        "SELECT count(*) FROM till_movements WHERE session_id = ? AND kind IN ('drop', "
        "'pickup') AND confirmed_by IS NULL", (s.session_id,)).fetchall()[0][0]
    if waiting:
        raise UnconfirmedMovements(f"{waiting} drop(s) or pickup(s) of till {till_id} await a "
                                   "second person's confirmation")
    last_seq = tx.head_seq
    totals = session.totals(s.float_minor, report.movements(
        report.read_range(tx.conn, s.opened_seq, last_seq), s.session_id, s.lane_id))
    assert totals.expected_minor == s.expected_minor, (totals, s)  # projection == log fold
    diff = session.over_short(counted, totals.expected_minor)
    by = None
    if session.needs_approval(diff, cfg.close_difference_manager_above_minor):
        way = "over" if diff > 0 else "short"
        by = approved(tx, who, approvals, Facts("till_close_difference", amount_minor=abs(diff)),
                      f"{_subject(s)}/{way}", token, f"closing till {till_id} {way} by {abs(diff)}")
        last_seq = tx.head_seq  # the approval's event moves no cash: the range ends right here
    z = (tx.conn.execute("SELECT last_z FROM till_z_numbers WHERE till_id = ?", (till_id,))
         .fetchall() or [(0,)])[0][0] + 1
    tx.append(c.TillClosed(session_id=s.session_id, till_id=till_id, lane_id=s.lane_id,
                           z_number=z, first_seq=s.opened_seq, last_seq=last_seq,
                           counted=tuple(req.counted), counted_minor=counted,
                           expected_minor=totals.expected_minor, over_short_minor=diff,
                           totals=totals, closed_by=who.token_id, approved_by=by,
                           closed_at_ms=tx.now_ms, note=req.note),
              stream=_stream(till_id), lane_id=who.lane_id)
    return s.session_id
