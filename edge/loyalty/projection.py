"""Loyalty read models: cached customers and their look-up hashes, points movements by seq
(the lane's balance is HQ's balance plus this store's movements HQ has not counted), what each
sale earned, which customer each cart is for, points tenders.

Handlers depend on the event alone, so `verify` rebuilds them identically; the data keys
(`loyalty_keys`) are not theirs (see `migrations`)."""

from __future__ import annotations

import json

from edge.store.projector import Registrations
from schemas import loyalty as lo
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {
    "loyalty_customers": "customer_id",
    "loyalty_lookup": "hash",
    "loyalty_movements": "seq",
    "loyalty_earned": "order_id",
    "loyalty_cart_customers": "cart_id",
    "loyalty_burns": "payment_id",
}


@PROJECTIONS.on(lo.CustomerCached)
def _cached(conn, stored: Event, b: lo.CustomerCached) -> None:
    rows = conn.execute("SELECT revision, erased FROM loyalty_customers WHERE customer_id = ?",
                        (b.customer_id,)).fetchall()
    if rows and (rows[0][1] or rows[0][0] >= b.revision):
        return  # an older revision, or an erased customer: nothing to bring back
    conn.execute(
        "INSERT OR REPLACE INTO loyalty_customers(customer_id, revision, tier, hq_balance, "
        "hq_seq, pii, e_receipts, marketing, burn_cap, erased) VALUES (?,?,?,?,?,?,?,?,?,0)",
        (b.customer_id, b.revision, b.tier, b.balance_points,
         b.hq_seqs.get(stored.store_id, 0), b.pii, int(b.consents.e_receipts),
         int(b.consents.marketing), b.offline_burn_cap_points))
    conn.execute("DELETE FROM loyalty_lookup WHERE customer_id = ?", (b.customer_id,))
    conn.executemany("INSERT OR REPLACE INTO loyalty_lookup(hash, customer_id) VALUES (?, ?)",
                     [(h, b.customer_id) for h in b.lookup])


@PROJECTIONS.on(lo.CustomerErased)
def _erased(conn, stored: Event, b: lo.CustomerErased) -> None:
    conn.execute("DELETE FROM loyalty_lookup WHERE customer_id = ?", (b.customer_id,))
    conn.execute(
        "INSERT INTO loyalty_customers(customer_id, revision, tier, hq_balance, hq_seq, pii, "
        "e_receipts, marketing, burn_cap, erased) VALUES (?, 0, '', 0, 0, NULL, 0, 0, NULL, 1) "
        "ON CONFLICT(customer_id) DO UPDATE SET pii = NULL, e_receipts = 0, marketing = 0, "
        "erased = 1", (b.customer_id,))


@PROJECTIONS.on(lo.CustomerAttached)
def _attached(conn, stored: Event, b: lo.CustomerAttached) -> None:
    conn.execute("INSERT OR REPLACE INTO loyalty_cart_customers(cart_id, customer_id) "
                 "VALUES (?, ?)", (b.cart_id, b.customer_id))


@PROJECTIONS.on(lo.CustomerDetached)
def _detached(conn, stored: Event, b: lo.CustomerDetached) -> None:
    conn.execute("DELETE FROM loyalty_cart_customers WHERE cart_id = ?", (b.cart_id,))


def _move(conn, stored: Event, customer_id: str, kind: str, points: int,
          order_id: str | None = None, payment_id: str | None = None,
          refund_id: str | None = None) -> None:
    conn.execute("INSERT INTO loyalty_movements(seq, customer_id, kind, points, order_id, "
                 "payment_id, refund_id) VALUES (?,?,?,?,?,?,?)",
                 (stored.seq, customer_id, kind, points, order_id, payment_id, refund_id))


@PROJECTIONS.on(lo.PointsEarned)
def _earned(conn, stored: Event, b: lo.PointsEarned) -> None:
    conn.execute("INSERT INTO loyalty_earned(order_id, customer_id, points, lines) "
                 "VALUES (?,?,?,?)", (b.order_id, b.customer_id, b.points,
                                      json.dumps({str(k): v for k, v in sorted(b.lines.items())})))
    _move(conn, stored, b.customer_id, "earn", b.points, order_id=b.order_id)


@PROJECTIONS.on(lo.PointsClawedBack)
def _clawed(conn, stored: Event, b: lo.PointsClawedBack) -> None:
    conn.execute("UPDATE loyalty_earned SET clawed_points = clawed_points + ? "
                 "WHERE order_id = ?", (b.points, b.order_id))
    _move(conn, stored, b.customer_id, "clawback", -b.points, order_id=b.order_id,
          refund_id=b.refund_id)


@PROJECTIONS.on(lo.PointsBurned)
def _burned(conn, stored: Event, b: lo.PointsBurned) -> None:
    conn.execute("INSERT INTO loyalty_burns(payment_id, customer_id, points, amount_minor) "
                 "VALUES (?,?,?,?)", (b.payment_id, b.customer_id, b.points, b.amount_minor))
    _move(conn, stored, b.customer_id, "burn", -b.points, payment_id=b.payment_id)


@PROJECTIONS.on(lo.PointsReturned)
def _returned(conn, stored: Event, b: lo.PointsReturned) -> None:
    conn.execute("UPDATE loyalty_burns SET returned_points = returned_points + ? "
                 "WHERE payment_id = ?", (b.points, b.payment_id))
    _move(conn, stored, b.customer_id, "return", b.points, payment_id=b.payment_id,
          refund_id=b.refund_id)
