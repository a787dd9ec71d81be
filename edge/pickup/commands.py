"""Pickup-order commands: the store's decision on a received order (reserve every line, or
reject naming the short lines), picking by scan, pack, ready, handover at a lane, cancel,
and the sweep that runs on the store's clock (no-shows, short flags). Pure rules first; each
writer command checks `machine.step` and refuses before appending anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import Conflict, NotFound
from edge.catalog import lookup
from edge.inventory import commands as stock
from edge.inventory import levels
from edge.inventory.errors import InsufficientStock
from edge.pickup import machine
from edge.pickup.settings import PickupConfig
from edge.store.writer import Tx
from schemas import inventory as inv
from schemas import inventory_api as api
from schemas import pickup as pk

DAY_MS = 86_400_000
MINUTE_MS = 60_000


class UnknownPickupOrder(NotFound):
    slug, title = "unknown-pickup-order", "No such pickup order"


class WrongItem(Conflict):
    slug, title = "pickup-wrong-item", "This item is not on the pickup order"


class PickIncomplete(Conflict):
    slug, title = "pickup-pick-incomplete", "Not every line of the order is picked"


class WrongPickupCode(Conflict):
    slug, title = "pickup-wrong-code", "The pickup code does not match the order"


class PaymentRequired(Conflict):
    slug, title = "pickup-payment-required", "The order is paid at pickup: sell it first"


# --- pure rules ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    qty_milli: int
    picked_milli: int

    @property
    def open_milli(self) -> int:
        return self.qty_milli - self.picked_milli


def pick_target(lines: Sequence[Line], sku: str, qty_milli: int,
                substitute_for: str | None) -> str:
    """The ordered SKU a scan fills: the scanned one, or the one it substitutes. Refuses a
    wrong item (not ordered, no substitution named) and an over-pick."""
    target = substitute_for if substitute_for is not None else sku
    if substitute_for is not None and substitute_for == sku:
        raise WrongItem(f"{sku} cannot substitute for itself")
    wanted = [ln for ln in lines if ln.sku == target]
    if not wanted:
        raise WrongItem(f"{target} is not on this order" + (
            "" if substitute_for else "; to substitute it, name the ordered SKU it replaces"))
    open_milli = sum(ln.open_milli for ln in wanted)
    if qty_milli > open_milli:
        raise Conflict(f"{target}: only {open_milli / 1000:g} left to pick")
    return target


def alarms(state: str, received_at_ms: int, accepted_at_ms: int | None, now_ms: int,
           cfg: PickupConfig) -> list[str]:
    """The SLA timers an order has breached at `now_ms`."""
    out = []
    if state == "received" and now_ms > received_at_ms + cfg.accept_within_min * MINUTE_MS:
        out.append("accept")
    if (state in ("accepted", "picking", "packed") and accepted_at_ms is not None
            and now_ms > accepted_at_ms + cfg.ready_within_min * MINUTE_MS):
        out.append("ready")
    return out


# --- reads -----------------------------------------------------------------------------------

_ORDER = ("SELECT order_id, state, prepaid, pickup_code, received_at_ms, accepted_at_ms, "
          "reservation_id, hold_until_ms, substituted, short, cancel_reason FROM pickup_orders")


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    state: str
    prepaid: bool
    pickup_code: str
    received_at_ms: int
    accepted_at_ms: int | None
    reservation_id: str | None
    hold_until_ms: int | None
    substituted: bool
    short: bool
    cancel_reason: str | None


def _order(r: tuple) -> Order:
    return Order(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6], r[7], bool(r[8]), bool(r[9]),
                 r[10])


def order(conn, order_id: str) -> Order:
    rows = conn.execute(_ORDER + " WHERE order_id = ?", (order_id,)).fetchall()
    if not rows:
        raise UnknownPickupOrder(f"no pickup order {order_id}")
    return _order(rows[0])


def lines(conn, order_id: str) -> list[Line]:
    return [Line(*r) for r in conn.execute(
        "SELECT sku, qty_milli, picked_milli FROM pickup_lines WHERE order_id = ? "
        "ORDER BY line_no", (order_id,))]


def view(conn, order_id: str, now_ms: int, cfg: PickupConfig) -> api.PickupOrderView:
    o = order(conn, order_id)
    return api.PickupOrderView(
        order_id=o.order_id, state=o.state, prepaid=o.prepaid,  # type: ignore[arg-type]
        lines=[api.PickupLineView(*r) for r in conn.execute(
            "SELECT sku, name, qty_milli, picked_milli, unit_price_minor FROM pickup_lines "
            "WHERE order_id = ? ORDER BY line_no", (order_id,))],
        picks=[api.PickView(*r) for r in conn.execute(
            "SELECT sku, qty_milli, scanned_code, substitute_for FROM pickup_picks "
            "WHERE order_id = ? ORDER BY seq", (order_id,))],
        substituted=o.substituted, short=o.short, received_at_ms=o.received_at_ms,
        hold_until_ms=o.hold_until_ms,
        alarms=alarms(o.state, o.received_at_ms, o.accepted_at_ms, now_ms, cfg),
        reservation_id=o.reservation_id, cancel_reason=o.cancel_reason,  # type: ignore[arg-type]
    )


def listing(conn, state: str | None, now_ms: int, cfg: PickupConfig,
            limit: int = 200) -> list[api.PickupOrderView]:
    sql = "SELECT order_id FROM pickup_orders"
    rows = conn.execute(sql + (" WHERE state = ?" if state else "") +
                        " ORDER BY received_at_ms, order_id LIMIT ?",
                        (state, limit) if state else (limit,)).fetchall()
    return [view(conn, r[0], now_ms, cfg) for r in rows]


def breaches(conn, now_ms: int, cfg: PickupConfig) -> list[tuple[str, str]]:
    """(order_id, timer) of every open order past an SLA timer."""
    out = []
    for r in conn.execute("SELECT order_id, state, received_at_ms, accepted_at_ms "
                          "FROM pickup_orders WHERE state IN ('received', 'accepted', "
                          "'picking', 'packed', 'ready') ORDER BY order_id"):
        out += [(r[0], t) for t in alarms(r[1], r[2], r[3], now_ms, cfg)]
    return out


# --- writer commands -------------------------------------------------------------------------


def _stream(order_id: str) -> str:
    return f"pickup:{order_id}"


def _append(tx: Tx, o: Order, body, lane_id: str | None = None) -> None:
    machine.step(o.state, body.TYPE)  # refuses before anything is recorded
    tx.append(body, stream=_stream(o.order_id), lane_id=lane_id)


def receive(tx: Tx, placed: pk.PickupOrder) -> bool:
    """Record an order HQ sent (once: the same order id again is a no-op, answers False)."""
    if tx.conn.execute("SELECT 1 FROM pickup_orders WHERE order_id = ?",
                       (placed.order_id,)).fetchall():
        return False
    tx.append(pk.PickupOrderReceived(order=placed), stream=_stream(placed.order_id), lane_id=None)
    return True


def decide(tx: Tx, order_id: str, cfg: PickupConfig, lane_id: str | None = None) -> str:
    """Accept (every line reserved until the no-show deadline) or reject (naming the short
    lines). The writer runs one command at a time, so two orders for the last unit are decided
    one after the other: the second sees the first's reservation."""
    o = order(tx.conn, order_id)
    machine.step(o.state, "pickup.accepted")
    wanted = tuple(inv.StockLine(ln.sku, ln.qty_milli) for ln in lines(tx.conn, order_id))
    hold_until = tx.now_ms + cfg.no_show_days * DAY_MS
    try:
        with tx.nested():
            reservation_id = stock.reserve(tx, f"pickup:{order_id}", wanted, hold_until, lane_id)
    except InsufficientStock as refused:
        short = tuple(pk.ShortLine(**s) for s in refused.extra["short"])
        _append(tx, o, pk.PickupRejected(order_id=order_id, reason="insufficient availability",
                                         short=short), lane_id)
        return "rejected"
    _append(tx, o, pk.PickupAccepted(order_id=order_id, reservation_id=reservation_id,
                                     hold_until_ms=hold_until), lane_id)
    return "accepted"


def pick(tx: Tx, lane_id: str, order_id: str, scan: api.PickScan) -> None:
    o = order(tx.conn, order_id)
    machine.step(o.state, "pickup.item_picked")
    item = lookup.by_barcode(tx, scan.code) or lookup.by_sku(tx, scan.code)
    if item is None:
        raise WrongItem(f"{scan.code} is not an item of this store's catalog")
    pick_target(lines(tx.conn, order_id), item.sku, scan.qty_milli, scan.substitute_for)
    _append(tx, o, pk.PickupItemPicked(order_id=order_id, sku=item.sku, qty_milli=scan.qty_milli,
                                       scanned_code=scan.code,
                                       substitute_for=scan.substitute_for), lane_id)


def pack(tx: Tx, lane_id: str, order_id: str) -> None:
    o = order(tx.conn, order_id)
    missing = [ln.sku for ln in lines(tx.conn, order_id) if ln.open_milli > 0]
    if missing and o.state in ("accepted", "picking"):
        raise PickIncomplete(f"still to pick: {', '.join(missing)}")
    _append(tx, o, pk.PickupPacked(order_id=order_id), lane_id)


def ready(tx: Tx, lane_id: str, order_id: str) -> None:
    _append(tx, order(tx.conn, order_id), pk.PickupReady(order_id=order_id), lane_id)


def _picked(tx: Tx, order_id: str) -> tuple[inv.StockLine, ...]:
    return tuple(inv.StockLine(r[0], r[1]) for r in tx.conn.execute(
        "SELECT sku, sum(qty_milli) FROM pickup_picks WHERE order_id = ? GROUP BY sku "
        "ORDER BY sku", (order_id,)))


def handover(tx: Tx, lane_id: str, order_id: str, req: api.Handover) -> None:
    """At a lane with the customer's code. Prepaid: the picked units leave with the
    reservation. Paid at pickup: the lane sold the order through the normal cart first
    (`sale_order_id`); that sale took the units off on-hand, so the reservation just ends."""
    o = order(tx.conn, order_id)
    machine.step(o.state, "pickup.handed_over")
    if req.pickup_code != o.pickup_code:
        raise WrongPickupCode("the pickup code does not match this order")
    if not o.prepaid:
        if req.sale_order_id is None:
            raise PaymentRequired("this order is paid at pickup: ring it up on the lane's cart "
                                  "and complete the sale, then hand over with its order id")
        if not tx.conn.execute("SELECT 1 FROM orders WHERE order_id = ?",
                               (req.sale_order_id,)).fetchall():
            raise UnknownPickupOrder(f"no completed sale {req.sale_order_id} at this store")
    assert o.reservation_id is not None
    taken = _picked(tx, order_id) if o.prepaid else ()
    stock.end(tx, o.reservation_id, "fulfilled", taken=taken, reason="handed over",
              lane_id=lane_id)
    _append(tx, o, pk.PickupHandedOver(order_id=order_id, prepaid=o.prepaid,
                                       sale_order_id=req.sale_order_id), lane_id)


def cancel(tx: Tx, lane_id: str | None, order_id: str, reason: pk.CancelReason) -> None:
    o = order(tx.conn, order_id)
    machine.step(o.state, "pickup.cancelled")
    if o.reservation_id is not None:
        r = stock.reservation(tx.conn, o.reservation_id)
        if r is not None and r.state == "active":
            stock.end(tx, o.reservation_id, "released", reason=f"cancelled: {reason}",
                      lane_id=lane_id)
    _append(tx, o, pk.PickupCancelled(order_id=order_id, reason=reason), lane_id)


@dataclass
class Swept:
    decided: list[tuple[str, str]]
    no_shows: list[str]
    flagged: list[tuple[str, str]]


def sweep(tx: Tx, cfg: PickupConfig) -> Swept:
    """What the store's clock makes due, in one writer command: received orders decided
    (auto_accept), reservations past their expiry ended (a pickup order's is a no-show: the
    order is cancelled, HQ sees it), orders holding units a lane sold flagged short."""
    out = Swept([], [], [])
    if cfg.auto_accept:
        for (order_id,) in tx.conn.execute("SELECT order_id FROM pickup_orders WHERE state = "
                                           "'received' ORDER BY received_at_ms, order_id"
                                           ).fetchall():
            out.decided.append((order_id, decide(tx, order_id, cfg)))
    for r in stock.expire_due(tx, tx.now_ms):
        if r.owner.startswith("pickup:"):
            order_id = r.owner.removeprefix("pickup:")
            o = order(tx.conn, order_id)
            if o.state not in machine.TERMINAL:
                _append(tx, o, pk.PickupCancelled(order_id=order_id, reason="no_show"))
                out.no_shows.append(order_id)
    for sku, short_milli in levels.short_holds(tx.conn):
        out.flagged += _flag_short(tx, sku, short_milli)
    return out


def _flag_short(tx: Tx, sku: str, short_milli: int) -> list[tuple[str, str]]:
    """The newest open orders holding `sku` are flagged until the shortage is covered (the
    earliest promise is kept); an order already flagged for it is not flagged again."""
    rows = tx.conn.execute(
        "SELECT o.order_id, sum(l.qty_milli), s.short_milli FROM pickup_orders o "
        "JOIN stock_reservation_lines l ON l.reservation_id = o.reservation_id "
        "JOIN stock_reservations r ON r.reservation_id = o.reservation_id AND r.state = 'active' "
        "LEFT JOIN pickup_short s ON s.order_id = o.order_id AND s.sku = l.sku "
        "WHERE l.sku = ? GROUP BY o.order_id ORDER BY r.created_seq DESC",
        (sku,)).fetchall()
    flagged = []
    left = short_milli
    for order_id, held, already in rows:
        if left <= 0:
            break
        short_here = min(held, left)
        left -= short_here
        if already is not None and already >= short_here:
            continue
        _append(tx, order(tx.conn, order_id), pk.PickupFlaggedShort(
            order_id=order_id, sku=sku, short_milli=short_here))
        flagged.append((order_id, sku))
    return flagged
