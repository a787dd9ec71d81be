"""Driving a store's stock in tests: a store with the demo catalog, sales through the real
cart, tender and order commands, and the log folded by `core.stock` for comparison."""

from __future__ import annotations

from core import bodycodec
from core import stock
from edge.carts import commands as carts
from edge.lanes import Principal
from edge.orders import commands as orders
from edge.tender import commands as tender
from schemas import api
from schemas.events import decode_body
from tests.support.store import TestStore

SKUS = ("BREAD-500G", "MILK-1L", "COFFEE-250G")
CASHIER = Principal("demo-tenant", "store-001", "lane-1", "cashier", "t1")
MANAGER = Principal("demo-tenant", "store-001", "manager-1", "manager", "t2")


def sell(s: TestStore, lines: list[tuple[str, int]], who: Principal = CASHIER) -> str:
    """One completed cash sale of (sku, units) lines; returns the order id."""
    def command(tx):
        cart = carts.open_cart(tx, who, s.policy)
        for sku, qty in lines:
            carts.add_line(tx, who, s.policy, cart.cart_id, api.AddLine(sku=sku, qty=qty))
        tender.add_tender(tx, who, cart.cart_id, api.AddTender("cash", 10**8), s.policy)
        return orders.complete(tx, who, s.policy, cart.cart_id)
    return s.writer.run_sync(command)


def levels_of(s: TestStore) -> dict[str, tuple[int, int]]:
    return {r[0]: (r[1], r[2]) for r in s.reader.execute(
        "SELECT sku, on_hand_milli, reserved_milli FROM stock_levels")}


def folded(s: TestStore) -> dict[str, tuple[int, int]]:
    bodies = (decode_body(t, v, bodycodec.decode(b)) for t, v, b in s.reader.execute(
        "SELECT type, schema_version, body FROM events ORDER BY seq"))
    return {sku: (lv.on_hand_milli, lv.reserved_milli) for sku, lv in stock.fold(bodies).items()}
