"""Inventory read models. `stock_levels` is the sum of every event's stock deltas
(`core.stock.deltas`), written by one upsert statement per event whatever its line count (a
sale adds exactly that statement to its transaction); the other tables record deliveries,
receipts, transfers, adjustments, counts and reservations as they happened."""

from __future__ import annotations

import apsw
import msgspec

from core import stock
from edge.store.projector import Registrations
from schemas import events as ev
from schemas import inventory as inv
from schemas.envelope import Event
from schemas.returns import ReturnCompleted

PROJECTIONS = Registrations()
TABLES = {
    "stock_levels": "sku",
    "stock_deliveries": "delivery_id",
    "stock_delivery_lines": "delivery_id, sku",
    "stock_receipts": "receipt_id",
    "stock_receipt_lines": "receipt_id, sku",
    "stock_transfers": "transfer_id",
    "stock_transfer_lines": "transfer_id, sku",
    "stock_adjustments": "adjustment_id",
    "stock_counts": "count_id",
    "stock_count_lines": "count_id, sku",
    "stock_reservations": "reservation_id",
    "stock_reservation_lines": "reservation_id, line_no",
}

_UPSERT = (
    "INSERT INTO stock_levels (sku, on_hand_milli, reserved_milli, last_seq) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, ? FROM json_each(?) WHERE true "
    "ON CONFLICT (sku) DO UPDATE SET "
    "on_hand_milli = on_hand_milli + excluded.on_hand_milli, "
    "reserved_milli = reserved_milli + excluded.reserved_milli, last_seq = excluded.last_seq"
)
_encode = msgspec.json.encode


def _levels(conn: apsw.Connection, stored: Event, body) -> None:
    moves = [(d.sku, d.on_hand_milli, d.reserved_milli) for d in stock.deltas(body)]
    if moves:
        conn.execute(_UPSERT, (stored.seq, _encode(moves).decode()))


@PROJECTIONS.on(ev.SaleCompleted, ReturnCompleted, inv.StockTransferredOut)
def _levels_only(conn, stored: Event, body) -> None:
    _levels(conn, stored, body)
    if isinstance(body, inv.StockTransferredOut):
        conn.execute("UPDATE stock_transfers SET state = 'shipped', shipped_seq = ? "
                     "WHERE transfer_id = ?", (stored.seq, body.transfer_id))
        conn.execute("INSERT INTO stock_transfers (transfer_id, to_store_id, state, shipped_seq) "
                     "VALUES (?, ?, 'shipped', ?) ON CONFLICT (transfer_id) DO NOTHING",
                     (body.transfer_id, body.to_store_id, stored.seq))
        conn.executemany(
            "INSERT INTO stock_transfer_lines (transfer_id, sku, shipped_milli) VALUES (?,?,?) "
            "ON CONFLICT (transfer_id, sku) DO UPDATE SET shipped_milli = excluded.shipped_milli",
            [(body.transfer_id, ln.sku, ln.qty_milli) for ln in body.lines])


@PROJECTIONS.on(inv.DeliveryExpected)
def _delivery(conn, stored: Event, b: inv.DeliveryExpected) -> None:
    conn.execute("INSERT INTO stock_deliveries (delivery_id, source, supplier, from_store_id, "
                 "state, expected_seq) VALUES (?, ?, ?, ?, 'expected', ?)",
                 (b.delivery_id, b.source, b.supplier, b.from_store_id, stored.seq))
    conn.executemany("INSERT INTO stock_delivery_lines (delivery_id, sku, expected_milli) "
                     "VALUES (?, ?, ?) ON CONFLICT (delivery_id, sku) DO UPDATE SET "
                     "expected_milli = expected_milli + excluded.expected_milli",
                     [(b.delivery_id, ln.sku, ln.qty_milli) for ln in b.lines])


@PROJECTIONS.on(inv.StockReceived)
def _received(conn, stored: Event, b: inv.StockReceived) -> None:
    _levels(conn, stored, b)
    conn.execute("INSERT INTO stock_receipts (receipt_id, delivery_id, source, from_store_id, "
                 "note, seq) VALUES (?, ?, ?, ?, ?, ?)",
                 (b.receipt_id, b.delivery_id, b.source, b.from_store_id, b.note, stored.seq))
    conn.executemany("INSERT INTO stock_receipt_lines (receipt_id, sku, expected_milli, "
                     "counted_milli, discrepancy_milli) VALUES (?, ?, ?, ?, ?)",
                     [(b.receipt_id, ln.sku, ln.expected_milli, ln.counted_milli,
                       ln.discrepancy_milli) for ln in b.lines])
    if b.delivery_id is not None:
        conn.execute("UPDATE stock_deliveries SET state = 'received', receipt_id = ? "
                     "WHERE delivery_id = ?", (b.receipt_id, b.delivery_id))


@PROJECTIONS.on(inv.TransferRequested)
def _transfer(conn, stored: Event, b: inv.TransferRequested) -> None:
    conn.execute("INSERT INTO stock_transfers (transfer_id, to_store_id, state, requested_seq) "
                 "VALUES (?, ?, 'requested', ?)", (b.transfer_id, b.to_store_id, stored.seq))
    conn.executemany("INSERT INTO stock_transfer_lines (transfer_id, sku, requested_milli) "
                     "VALUES (?, ?, ?) ON CONFLICT (transfer_id, sku) DO UPDATE SET "
                     "requested_milli = requested_milli + excluded.requested_milli",
                     [(b.transfer_id, ln.sku, ln.qty_milli) for ln in b.lines])


@PROJECTIONS.on(inv.StockAdjusted)
def _adjusted(conn, stored: Event, b: inv.StockAdjusted) -> None:
    _levels(conn, stored, b)
    conn.execute("INSERT INTO stock_adjustments (adjustment_id, sku, delta_milli, reason, "
                 "approved_by_role, note, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (b.adjustment_id, b.sku, b.delta_milli, b.reason, b.approved_by_role, b.note,
                  stored.seq))


@PROJECTIONS.on(inv.StockCounted)
def _counted(conn, stored: Event, b: inv.StockCounted) -> None:
    _levels(conn, stored, b)
    conn.execute("INSERT INTO stock_counts (count_id, section, approved_by_role, seq) "
                 "VALUES (?, ?, ?, ?)", (b.count_id, b.section, b.approved_by_role, stored.seq))
    conn.executemany("INSERT INTO stock_count_lines (count_id, sku, counted_milli, "
                     "expected_milli, variance_milli) VALUES (?, ?, ?, ?, ?)",
                     [(b.count_id, ln.sku, ln.counted_milli, ln.expected_milli,
                       ln.variance_milli) for ln in b.lines])


@PROJECTIONS.on(inv.SafetyStockSet)
def _safety(conn, stored: Event, b: inv.SafetyStockSet) -> None:
    conn.execute("INSERT INTO stock_levels (sku, safety_milli, last_seq) VALUES (?, ?, ?) "
                 "ON CONFLICT (sku) DO UPDATE SET safety_milli = excluded.safety_milli, "
                 "last_seq = excluded.last_seq", (b.sku, b.safety_milli, stored.seq))


@PROJECTIONS.on(inv.StockReserved)
def _reserved(conn, stored: Event, b: inv.StockReserved) -> None:
    _levels(conn, stored, b)
    conn.execute("INSERT INTO stock_reservations (reservation_id, owner, expires_at_ms, state, "
                 "created_seq) VALUES (?, ?, ?, 'active', ?)",
                 (b.reservation_id, b.owner, b.expires_at_ms, stored.seq))
    conn.executemany("INSERT INTO stock_reservation_lines (reservation_id, line_no, sku, "
                     "qty_milli) VALUES (?, ?, ?, ?)",
                     [(b.reservation_id, i, ln.sku, ln.qty_milli)
                      for i, ln in enumerate(b.lines, start=1)])


@PROJECTIONS.on(inv.ReservationEnded)
def _ended(conn, stored: Event, b: inv.ReservationEnded) -> None:
    _levels(conn, stored, b)
    conn.execute("UPDATE stock_reservations SET state = ?, ended_seq = ?, reason = ? "
                 "WHERE reservation_id = ?", (b.outcome, stored.seq, b.reason, b.reservation_id))
