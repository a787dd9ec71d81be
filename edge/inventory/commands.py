"""Stock commands: pure decisions (receipt and count lines, reservation fit) and the writer
commands that load state, decide and append one event. Every command refuses before appending
anything; the projection (`projection.py`) is the only writer of the read model.

Selling never goes through here: a sale moves stock by its own `sale.completed` (projected).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core import stock
from core.ids import uuid7
from edge.approvals.rules import ApprovalPolicy
from edge.catalog import lookup
from edge.inventory import levels
from edge.inventory.approvals import adjustment_subject, approve_variance, count_subject
from edge.inventory.errors import (
    AlreadyDone,
    InsufficientStock,
    InvalidStock,
    UnknownDelivery,
    UnknownSku,
)
from edge.inventory.settings import InventoryConfig
from edge.lanes import Principal
from edge.store.writer import Tx
from schemas import inventory as inv
from schemas import inventory_api as api

# --- pure rules ------------------------------------------------------------------------------


def merged(lines: Iterable[api.CountedQty]) -> dict[str, int]:
    """Counted quantities by SKU; the same SKU on two lines (two shelves) adds up."""
    out: dict[str, int] = {}
    for ln in lines:
        out[ln.sku] = out.get(ln.sku, 0) + ln.counted_milli
    return out


def receipt_lines(expected: dict[str, int], counted: dict[str, int]) -> tuple[inv.ReceivedLine, ...]:
    """Every SKU announced or counted: announced and missing counts 0, unannounced expects 0."""
    return tuple(
        inv.ReceivedLine(sku=sku, expected_milli=expected.get(sku, 0),
                         counted_milli=counted.get(sku, 0),
                         discrepancy_milli=counted.get(sku, 0) - expected.get(sku, 0))
        for sku in sorted(expected.keys() | counted.keys()))


def count_lines(on_hand: dict[str, int], counted: dict[str, int]) -> tuple[inv.CountedLine, ...]:
    return tuple(
        inv.CountedLine(sku=sku, counted_milli=qty, expected_milli=on_hand[sku],
                        variance_milli=qty - on_hand[sku])
        for sku, qty in sorted(counted.items()))


# --- helpers ---------------------------------------------------------------------------------


def _known(tx: Tx, skus: Iterable[str]) -> None:
    """Stock is kept for catalog items (or SKUs that already have stock)."""
    unknown = [s for s in sorted(set(skus))
               if lookup.by_sku(tx, s) is None and levels.level(tx.conn, s) is None]
    if unknown:
        raise UnknownSku(f"unknown SKU(s): {', '.join(unknown[:10])}", skus=unknown[:50])


# --- receiving -------------------------------------------------------------------------------


def receive(tx: Tx, lane_id: str | None, req: api.ReceiveStock) -> str:
    counted = merged(req.lines)
    source, from_store = "supplier", None
    expected: dict[str, int] = {}
    if req.delivery_id is not None:
        rows = tx.conn.execute("SELECT source, from_store_id, state FROM stock_deliveries "
                               "WHERE delivery_id = ?", (req.delivery_id,)).fetchall()
        if not rows:
            raise UnknownDelivery(f"no delivery {req.delivery_id} was announced to this store")
        source, from_store, state = rows[0]
        if state != "expected":
            raise AlreadyDone(f"delivery {req.delivery_id} was already received")
        expected = dict(tx.conn.execute("SELECT sku, expected_milli FROM stock_delivery_lines "
                                        "WHERE delivery_id = ?", (req.delivery_id,)).fetchall())
    else:
        expected = dict(counted)
    _known(tx, counted)
    receipt_id = uuid7()
    tx.append(inv.StockReceived(receipt_id=receipt_id, delivery_id=req.delivery_id,
                                source=source, lines=receipt_lines(expected, counted),
                                from_store_id=from_store, note=req.note),
              stream=f"stock:receipt:{receipt_id}", lane_id=lane_id)
    return receipt_id


def receipt_view(conn, receipt_id: str) -> api.GoodsReceiptView:
    head = conn.execute("SELECT delivery_id, source FROM stock_receipts WHERE receipt_id = ?",
                        (receipt_id,)).fetchall()
    if not head:
        raise UnknownDelivery(f"no receipt {receipt_id}")
    lines = [api.ReceiptLineView(*r) for r in conn.execute(
        "SELECT sku, expected_milli, counted_milli, discrepancy_milli FROM stock_receipt_lines "
        "WHERE receipt_id = ? ORDER BY sku", (receipt_id,))]
    return api.GoodsReceiptView(receipt_id=receipt_id, delivery_id=head[0][0], source=head[0][1],
                           lines=lines, discrepancies=sum(1 for ln in lines
                                                          if ln.discrepancy_milli != 0))


def deliveries(conn, state: str | None) -> list[api.DeliveryView]:
    sql = ("SELECT delivery_id, source, supplier, from_store_id, state, receipt_id "
           "FROM stock_deliveries")
    rows = conn.execute(sql + (" WHERE state = ?" if state else "") + " ORDER BY expected_seq",
                        (state,) if state else ()).fetchall()
    out = []
    for r in rows:
        lines = [api.DeliveryLineView(*x) for x in conn.execute(
            "SELECT sku, expected_milli FROM stock_delivery_lines WHERE delivery_id = ? "
            "ORDER BY sku", (r[0],))]
        out.append(api.DeliveryView(delivery_id=r[0], source=r[1], supplier=r[2],
                                    from_store_id=r[3], state=r[4], lines=lines,
                                    receipt_id=r[5]))
    return out


# --- transfers -------------------------------------------------------------------------------


def transfer_view(conn, transfer_id: str) -> api.TransferView:
    head = conn.execute("SELECT to_store_id, state FROM stock_transfers WHERE transfer_id = ?",
                        (transfer_id,)).fetchall()
    if not head:
        raise UnknownDelivery(f"no transfer {transfer_id}")
    lines = [api.TransferLineView(*r) for r in conn.execute(
        "SELECT sku, requested_milli, shipped_milli FROM stock_transfer_lines "
        "WHERE transfer_id = ? ORDER BY sku", (transfer_id,))]
    return api.TransferView(transfer_id=transfer_id, to_store_id=head[0][0], state=head[0][1],
                            lines=lines)


def ship(tx: Tx, lane_id: str | None, transfer_id: str, req: api.ShipTransfer) -> None:
    """Ship a transfer HQ requested: what leaves is the request, or `req.lines` when given."""
    view = transfer_view(tx.conn, transfer_id)
    if view.state != "requested":
        raise AlreadyDone(f"transfer {transfer_id} was already shipped")
    qty = merged(req.lines) if req.lines else {ln.sku: ln.requested_milli for ln in view.lines}
    _known(tx, qty)
    lines = tuple(inv.StockLine(sku, q) for sku, q in sorted(qty.items()) if q > 0)
    if not lines:
        raise InvalidStock("a transfer ships at least one unit")
    tx.append(inv.StockTransferredOut(transfer_id=transfer_id, to_store_id=view.to_store_id,
                                      lines=lines),
              stream=f"stock:transfer:{transfer_id}", lane_id=lane_id)


# --- adjustments and counts ------------------------------------------------------------------


def adjust(tx: Tx, who: Principal, settings: InventoryConfig, req: api.AdjustStock,
           approvals: ApprovalPolicy | None = None, token: str | None = None) -> str:
    if req.delta_milli == 0:
        raise InvalidStock("an adjustment moves stock: delta_milli must not be 0",
                           field="delta_milli")
    _known(tx, [req.sku])
    approved = approve_variance(
        tx, who, approvals, [req.delta_milli], settings.manager_above_milli,
        f"the adjustment of {req.sku}", action="stock_adjustment",
        subject=adjustment_subject(req.sku, req.delta_milli, req.reason), token=token)
    adjustment_id = uuid7()
    tx.append(inv.StockAdjusted(adjustment_id=adjustment_id, sku=req.sku,
                                delta_milli=req.delta_milli, reason=req.reason,
                                approved_by_role=approved, note=req.note),
              stream=f"stock:{req.sku}", lane_id=who.lane_id)
    return adjustment_id


def adjustment_view(conn, adjustment_id: str, stock_view: api.StockView) -> api.AdjustmentView:
    rows = conn.execute("SELECT sku, delta_milli, reason, approved_by_role FROM "
                        "stock_adjustments WHERE adjustment_id = ?", (adjustment_id,)).fetchall()
    assert rows, f"adjustment {adjustment_id} not recorded"
    sku, delta, reason, role = rows[0]
    return api.AdjustmentView(adjustment_id=adjustment_id, sku=sku, delta_milli=delta,
                              reason=reason, approved_by_role=role, stock=stock_view)


def count(tx: Tx, who: Principal, settings: InventoryConfig, req: api.CountStock,
          approvals: ApprovalPolicy | None = None, token: str | None = None) -> str:
    """A blind count: expected is read here, at the moment the count is recorded, so sales
    between the counter's walk and this call are not counted twice only if the section was
    counted quickly; the variance is what the books say against what was found."""
    counted = merged(req.lines)
    _known(tx, counted)
    current = levels.levels(tx.conn, counted)
    lines = count_lines({s: v.on_hand_milli for s, v in current.items()}, counted)
    approved = approve_variance(
        tx, who, approvals, [ln.variance_milli for ln in lines], settings.manager_above_milli,
        f"the count of {req.section}", action="stock_count_variance",
        subject=count_subject(req.section, counted), token=token)
    count_id = uuid7()
    tx.append(inv.StockCounted(count_id=count_id, section=req.section, lines=lines,
                               approved_by_role=approved),
              stream=f"stock:count:{count_id}", lane_id=who.lane_id)
    return count_id


def count_view(conn, count_id: str) -> api.CountView:
    head = conn.execute("SELECT section, approved_by_role FROM stock_counts WHERE count_id = ?",
                        (count_id,)).fetchall()
    assert head, f"count {count_id} not recorded"
    lines = [api.CountLineView(*r) for r in conn.execute(
        "SELECT sku, counted_milli, expected_milli, variance_milli FROM stock_count_lines "
        "WHERE count_id = ? ORDER BY sku", (count_id,))]
    return api.CountView(count_id=count_id, section=head[0][0], approved_by_role=head[0][1],
                         lines=lines)


# --- reservations ----------------------------------------------------------------------------


def availability(conn, skus: Iterable[str]) -> dict[str, int]:
    return {s: v.available_milli for s, v in levels.levels(conn, skus).items()}


def reserve(tx: Tx, owner: str, lines: Sequence[inv.StockLine], expires_at_ms: int,
            lane_id: str | None = None) -> str:
    """Hold every line or nothing: raises `InsufficientStock` naming the short lines. The one
    writer runs commands one at a time, so two reservations for the last unit cannot both
    fit: the second sees the first's hold."""
    short = stock.shortfalls(lines, availability(tx.conn, (ln.sku for ln in lines)))
    if short:
        raise InsufficientStock(
            f"not enough available for {', '.join(s.sku for s in short)}",
            short=[{"sku": s.sku, "requested_milli": s.requested_milli,
                    "available_milli": s.available_milli} for s in short])
    reservation_id = uuid7()
    tx.append(inv.StockReserved(reservation_id=reservation_id, owner=owner, lines=tuple(lines),
                                expires_at_ms=expires_at_ms),
              stream=f"reservation:{reservation_id}", lane_id=lane_id)
    return reservation_id


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: str
    owner: str
    state: str
    expires_at_ms: int
    lines: tuple[inv.StockLine, ...]


def reservation(conn, reservation_id: str) -> Reservation | None:
    head = conn.execute("SELECT owner, state, expires_at_ms FROM stock_reservations "
                        "WHERE reservation_id = ?", (reservation_id,)).fetchall()
    if not head:
        return None
    lines = tuple(inv.StockLine(*r) for r in conn.execute(
        "SELECT sku, qty_milli FROM stock_reservation_lines WHERE reservation_id = ? "
        "ORDER BY line_no", (reservation_id,)))
    return Reservation(reservation_id, head[0][0], head[0][1], head[0][2], lines)


def end(tx: Tx, reservation_id: str, outcome: inv.ReservationOutcome, *,
        taken: Sequence[inv.StockLine] = (), reason: str = "",
        lane_id: str | None = None) -> Reservation:
    r = reservation(tx.conn, reservation_id)
    assert r is not None, f"reservation {reservation_id} unknown"
    if r.state != "active":
        raise AlreadyDone(f"reservation {reservation_id} already ended ({r.state})")
    tx.append(inv.ReservationEnded(reservation_id=reservation_id, outcome=outcome,
                                   lines=r.lines, taken=tuple(taken), reason=reason),
              stream=f"reservation:{reservation_id}", lane_id=lane_id)
    return r


def expire_due(tx: Tx, now_ms: int, limit: int = 500) -> list[Reservation]:
    """End every active reservation whose expiry has passed (at the store, with or without a
    WAN): the units return to available."""
    due = [r[0] for r in tx.conn.execute(
        "SELECT reservation_id FROM stock_reservations WHERE state = 'active' AND "
        "expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?", (now_ms, limit))]
    return [end(tx, rid, "expired", reason="expired") for rid in due]
