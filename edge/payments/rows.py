"""Payments as rows of the `payments` read model, and back. The only SQL that knows its columns.

Writes go through `edge.store.projections` alone; commands and views use the readers here.
"""

from __future__ import annotations

import apsw

from edge.payments.machine import Payment
from schemas import events as ev

COLUMNS = (
    "payment_id, cart_id, tender_id, lane_id, tender_type, currency, amount_minor, request_key, "
    "state, prior_state, captured_minor, change_minor, refunded_minor, pending_refund_minor, "
    "pending_refund_id, voucher_code, reference, card_terminal_id, card_trace_no, "
    "card_receipt_no, card_approval_code, card_masked_pan, card_brand, card_token, terminal_id, "
    "stored_at_ms, order_id, created_at_ms, card_expiry"
)
_N = len(COLUMNS.split(","))


def to_row(p: Payment) -> tuple:
    c = p.card
    return (
        p.payment_id, p.cart_id, p.tender_id, p.lane_id, p.tender_type, p.currency,
        p.amount_minor, p.request_key, p.state, p.prior_state, p.captured_minor, p.change_minor,
        p.refunded_minor, p.pending_refund_minor, p.pending_refund_id, p.voucher_code,
        p.reference,
        c.terminal_id if c else None, c.trace_no if c else None, c.receipt_no if c else None,
        c.approval_code if c else None, c.masked_pan if c else None, c.card_brand if c else None,
        c.card_token if c else None, p.terminal_id, p.stored_at_ms, p.order_id, p.created_at_ms,
        c.expiry if c else None,
    )


def from_row(r: tuple) -> Payment:
    card = None
    if r[17] is not None:
        card = ev.CardRef(terminal_id=r[17], trace_no=r[18], receipt_no=r[19],
                          approval_code=r[20], masked_pan=r[21], card_brand=r[22],
                          card_token=r[23], expiry=r[28])
    return Payment(
        payment_id=r[0], cart_id=r[1], tender_id=r[2], lane_id=r[3], tender_type=r[4],
        currency=r[5], amount_minor=r[6], request_key=r[7], state=r[8], prior_state=r[9],
        captured_minor=r[10], change_minor=r[11], refunded_minor=r[12],
        pending_refund_minor=r[13], pending_refund_id=r[14], voucher_code=r[15], reference=r[16],
        card=card, terminal_id=r[24], stored_at_ms=r[25], order_id=r[26], created_at_ms=r[27],
    )


def many_sql(where: str) -> str:
    return f"SELECT {COLUMNS} FROM payments WHERE {where} ORDER BY cart_id, tender_id"


def _many(conn: apsw.Connection, where: str, args: tuple) -> list[Payment]:
    return [from_row(r) for r in conn.execute(many_sql(where), args)]


def by_id(conn: apsw.Connection, payment_id: str) -> Payment | None:
    found = _many(conn, "payment_id = ?", (payment_id,))
    return found[0] if found else None


def of_cart(conn: apsw.Connection, cart_id: str) -> list[Payment]:
    return _many(conn, "cart_id = ?", (cart_id,))


def of_order(conn: apsw.Connection, order_id: str) -> list[Payment]:
    return _many(conn, "order_id = ?", (order_id,))


def by_request(conn: apsw.Connection, request_key: str) -> Payment | None:
    found = _many(conn, "request_key = ?", (request_key,))
    return found[0] if found else None


# The states a payment waits in for the store to act (reconciliation, forwarding): the partial
# index `payments_waiting` (store migration 9) holds only these rows. SQLite uses a partial
# index only for a query whose WHERE contains the index's own WHERE term, so a query by state
# adds this very text; `tests/edge/store/test_read_model_indexes.py` checks the plan.
WAITING_STATES = ("authorizing", "capturing", "refund_pending", "stored", "voiding")
WAITING = "state IN ('authorizing', 'capturing', 'refund_pending', 'stored', 'voiding')"


def in_states_where(states: frozenset[str] | set[str]) -> tuple[str, tuple[str, ...]]:
    marks = ",".join("?" * len(states))
    indexed = f" AND {WAITING}" if set(states) <= set(WAITING_STATES) else ""
    return f"state IN ({marks}){indexed}", tuple(sorted(states))


def in_states(conn: apsw.Connection, states: frozenset[str] | set[str]) -> list[Payment]:
    return _many(conn, *in_states_where(states))


def reference_taken(conn: apsw.Connection, card: ev.CardRef, other_than: str) -> bool:
    """Is this terminal receipt already the reference of another payment (or of a refund or
    reversal recorded on one)? Reconciliation never attaches one receipt to two payments."""
    rows = conn.execute(
        "SELECT 1 FROM terminal_receipts WHERE terminal_id = ? AND trace_no = ? "
        "AND receipt_no = ? AND payment_id != ? LIMIT 1",
        (card.terminal_id, card.trace_no, card.receipt_no, other_than),
    ).fetchall()
    return bool(rows)


_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in [*COLUMNS.split(", "), "updated_seq"]
                    if c != "payment_id")


def upsert(conn: apsw.Connection, p: Payment, seq: int) -> None:
    # Updated in place: INSERT OR REPLACE deleted the row and appended it again under a new
    # rowid on each of a payment's events (created, captured, settled into its order), leaving
    # the space of every earlier copy unused in the table and its indexes.
    marks = ",".join("?" * (_N + 1))
    conn.execute(
        f"INSERT INTO payments ({COLUMNS}, updated_seq) VALUES ({marks}) "
        f"ON CONFLICT (payment_id) DO UPDATE SET {_UPDATE}",
        (*to_row(p), seq),
    )
