"""Device-to-lane bindings (table `device_bindings`): which lane a scanner scans for, which
lane a printer prints for. Primary state, written through the store writer; the device service
keeps a copy in memory for the scan path."""

from __future__ import annotations

import apsw

from edge.store.writer import Tx
from schemas.devices import Binding


def _row(row: tuple) -> Binding:
    device_id, lane_id, adds, bound_at_ms = row
    return Binding(device_id, lane_id, None if adds is None else bool(adds), bound_at_ms)


def load_all(conn: apsw.Connection) -> dict[str, Binding]:
    return {
        row[0]: _row(row)
        for row in conn.execute(
            "SELECT device_id, lane_id, scan_adds_to_cart, bound_at_ms FROM device_bindings "
            "ORDER BY device_id"
        )
    }


def bind(tx: Tx, device_id: str, lane_id: str, scan_adds_to_cart: bool | None) -> Binding:
    adds = None if scan_adds_to_cart is None else int(scan_adds_to_cart)
    tx.conn.execute(
        "INSERT INTO device_bindings(device_id, lane_id, scan_adds_to_cart, bound_at_ms) "
        "VALUES (?,?,?,?) ON CONFLICT(device_id) DO UPDATE SET lane_id = excluded.lane_id, "
        "scan_adds_to_cart = excluded.scan_adds_to_cart, bound_at_ms = excluded.bound_at_ms",
        (device_id, lane_id, adds, tx.now_ms),
    )
    return Binding(device_id, lane_id, scan_adds_to_cart, tx.now_ms)


def bind_if_unbound(tx: Tx, device_id: str, lane_id: str) -> Binding | None:
    """A configured `lane_id` applies once; an operator's later binding is never overwritten."""
    tx.conn.execute(
        "INSERT INTO device_bindings(device_id, lane_id, scan_adds_to_cart, bound_at_ms) "
        "VALUES (?,?,NULL,?) ON CONFLICT(device_id) DO NOTHING",
        (device_id, lane_id, tx.now_ms),
    )
    if not tx.conn.changes():
        return None
    return Binding(device_id, lane_id, None, tx.now_ms)


def unbind(tx: Tx, device_id: str) -> bool:
    tx.conn.execute("DELETE FROM device_bindings WHERE device_id = ?", (device_id,))
    return tx.conn.changes() > 0


def lane_exists(conn: apsw.Connection, lane_id: str) -> bool:
    return bool(conn.execute(
        "SELECT 1 FROM lane_tokens WHERE lane_id = ? AND revoked_at_ms IS NULL LIMIT 1",
        (lane_id,),
    ).fetchall())
