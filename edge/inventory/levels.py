"""Reading stock levels (the read model), for commands inside the writer and for views."""

from __future__ import annotations

from collections.abc import Iterable

import apsw
import msgspec

from core import stock
from schemas.inventory_api import StockView

_COLS = "sku, on_hand_milli, reserved_milli, safety_milli, last_seq"


def _view(r: tuple) -> StockView:
    return StockView(sku=r[0], on_hand_milli=r[1], reserved_milli=r[2], safety_milli=r[3],
                     available_milli=stock.available(r[1], r[2], r[3]), negative=r[1] < 0,
                     as_of_seq=r[4])


def level(conn: apsw.Connection, sku: str) -> StockView | None:
    for r in conn.execute(f"SELECT {_COLS} FROM stock_levels WHERE sku = ?", (sku,)):
        return _view(r)
    return None


def zero(sku: str) -> StockView:
    return StockView(sku=sku, on_hand_milli=0, reserved_milli=0, safety_milli=0,
                     available_milli=0, negative=False, as_of_seq=0)


def levels(conn: apsw.Connection, skus: Iterable[str]) -> dict[str, StockView]:
    wanted = sorted(set(skus))
    found = {r[0]: _view(r) for r in conn.execute(
        f"SELECT {_COLS} FROM stock_levels WHERE sku IN (SELECT value FROM json_each(?))",
        (msgspec.json.encode(wanted).decode(),))}
    return {s: found.get(s) or zero(s) for s in wanted}


def low(conn: apsw.Connection, at_most_milli: int, limit: int) -> list[StockView]:
    return [_view(r) for r in conn.execute(
        f"SELECT {_COLS} FROM stock_levels WHERE on_hand_milli - reserved_milli - safety_milli "
        "<= ? ORDER BY on_hand_milli - reserved_milli - safety_milli, sku LIMIT ?",
        (at_most_milli, limit))]


def short_holds(conn: apsw.Connection) -> list[tuple[str, int]]:
    """Held SKUs whose on-hand fell below what is reserved: (sku, short_milli)."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT sku, reserved_milli - on_hand_milli FROM stock_levels "
        "WHERE reserved_milli > 0 AND on_hand_milli < reserved_milli ORDER BY sku")]
