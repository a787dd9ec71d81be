"""Pickup read models: the order with its state (`machine.step`), lines with what was picked
against each, every pick, the short lines of a rejection, and short flags."""

from __future__ import annotations

from edge.pickup import machine
from edge.store.projector import Registrations
from schemas import pickup as pk
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {
    "pickup_orders": "order_id",
    "pickup_lines": "order_id, line_no",
    "pickup_picks": "order_id, seq",
    "pickup_rejections": "order_id, sku",
    "pickup_short": "order_id, sku",
}


@PROJECTIONS.on(pk.PickupOrderReceived)
def _received(conn, stored: Event, b: pk.PickupOrderReceived) -> None:
    o = b.order
    conn.execute("INSERT INTO pickup_orders (order_id, state, prepaid, pickup_code, "
                 "customer_ref, placed_at_ms, received_at_ms, last_seq) "
                 "VALUES (?, 'received', ?, ?, ?, ?, ?, ?)",
                 (o.order_id, int(o.prepaid), o.pickup_code, o.customer_ref, o.placed_at_ms,
                  stored.recorded_at_ms, stored.seq))
    conn.executemany("INSERT INTO pickup_lines (order_id, line_no, sku, name, qty_milli, "
                     "unit_price_minor) VALUES (?, ?, ?, ?, ?, ?)",
                     [(o.order_id, i, ln.sku, ln.name, ln.qty_milli, ln.unit_price_minor)
                      for i, ln in enumerate(o.lines, start=1)])


def _move(conn, stored: Event, order_id: str, extra_sql: str = "", args: tuple = ()) -> None:
    state = conn.execute("SELECT state FROM pickup_orders WHERE order_id = ?",
                         (order_id,)).fetchall()[0][0]
    conn.execute(f"UPDATE pickup_orders SET state = ?, last_seq = ?{extra_sql} "
                 "WHERE order_id = ?",
                 (machine.step(state, stored.type), stored.seq, *args, order_id))


@PROJECTIONS.on(pk.PickupAccepted)
def _accepted(conn, stored: Event, b: pk.PickupAccepted) -> None:
    _move(conn, stored, b.order_id, ", accepted_at_ms = ?, reservation_id = ?, hold_until_ms = ?",
          (stored.recorded_at_ms, b.reservation_id, b.hold_until_ms))


@PROJECTIONS.on(pk.PickupRejected)
def _rejected(conn, stored: Event, b: pk.PickupRejected) -> None:
    _move(conn, stored, b.order_id)
    conn.executemany("INSERT INTO pickup_rejections (order_id, sku, requested_milli, "
                     "available_milli) VALUES (?, ?, ?, ?)",
                     [(b.order_id, s.sku, s.requested_milli, s.available_milli)
                      for s in b.short])


@PROJECTIONS.on(pk.PickupItemPicked)
def _picked(conn, stored: Event, b: pk.PickupItemPicked) -> None:
    _move(conn, stored, b.order_id, ", substituted = substituted OR ?",
          (int(b.substitute_for is not None),))
    conn.execute("INSERT INTO pickup_picks (order_id, seq, sku, qty_milli, scanned_code, "
                 "substitute_for) VALUES (?, ?, ?, ?, ?, ?)",
                 (b.order_id, stored.seq, b.sku, b.qty_milli, b.scanned_code, b.substitute_for))
    # The pick counts against the ordered line it fills (the substituted one for a swap).
    conn.execute("UPDATE pickup_lines SET picked_milli = picked_milli + ? WHERE order_id = ? "
                 "AND line_no = (SELECT line_no FROM pickup_lines WHERE order_id = ? AND sku = ? "
                 "AND picked_milli < qty_milli ORDER BY line_no LIMIT 1)",
                 (b.qty_milli, b.order_id, b.order_id, b.substitute_for or b.sku))


@PROJECTIONS.on(pk.PickupPacked, pk.PickupReady)
def _packed_or_ready(conn, stored: Event, b) -> None:
    _move(conn, stored, b.order_id)


@PROJECTIONS.on(pk.PickupHandedOver)
def _handed_over(conn, stored: Event, b: pk.PickupHandedOver) -> None:
    _move(conn, stored, b.order_id, ", sale_order_id = ?", (b.sale_order_id,))


@PROJECTIONS.on(pk.PickupCancelled)
def _cancelled(conn, stored: Event, b: pk.PickupCancelled) -> None:
    _move(conn, stored, b.order_id, ", cancel_reason = ?", (b.reason,))


@PROJECTIONS.on(pk.PickupFlaggedShort)
def _short(conn, stored: Event, b: pk.PickupFlaggedShort) -> None:
    _move(conn, stored, b.order_id, ", short = 1")
    conn.execute("INSERT INTO pickup_short (order_id, sku, short_milli) VALUES (?, ?, ?) "
                 "ON CONFLICT (order_id, sku) DO UPDATE SET short_milli = excluded.short_milli",
                 (b.order_id, b.sku, b.short_milli))
