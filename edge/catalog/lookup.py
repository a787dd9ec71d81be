"""Catalog reads used at the lane: find an item by SKU or scanned code, and its price points.

Read-only queries over the catalog projection, on whichever connection the caller holds (a
reader's), or through a writer command's `Tx`: then answers are remembered in the writer's
memo, because the catalog changes only by an import (`edge.catalog.service.import_document`,
which forgets them) or by another process (which wipes the memo), while every scan looks an
item up.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw
import msgspec

from core.barcode import InvalidBarcode, normalize
from core.price_lock import PricePoint
from edge.store.writer import Tx


@dataclass(frozen=True, slots=True)
class Item:
    sku: str
    product_id: str
    name: str
    sold_by: str
    tax_class: str
    tax_rate_ppm: int
    attributes: dict[str, str]


_ITEM_SQL = (
    "SELECT v.sku, p.product_id, p.name, p.sold_by, p.tax_class, t.rate_ppm, v.attributes "
    "FROM variants v JOIN products p ON p.product_id = v.product_id "
    "JOIN tax_classes t ON t.code = p.tax_class "
)


def _item(row: tuple) -> Item:
    sku, product_id, name, sold_by, tax_class, rate, attributes = row
    return Item(sku, product_id, name, sold_by, tax_class, rate, msgspec.json.decode(attributes))


Source = apsw.Connection | Tx
MEMO_KEY = ("catalog",)
_MAX_REMEMBERED = 50_000  # per kind: a bound on memory for a huge catalog, not a policy


class _Remembered:
    """One memo entry: what lookups answered since the catalog last changed."""

    def __init__(self) -> None:
        self.skus: dict[str, Item | None] = {}
        self.codes: dict[str, Item | None] = {}
        self.points: dict[str, list[PricePoint]] = {}


def _memo(tx: Tx) -> _Remembered:
    kept = tx.memo.get(MEMO_KEY)
    if kept is None:
        kept = _Remembered()
        tx.memo.put(MEMO_KEY, kept)
    return kept


def _bounded(d: dict, key, value):
    if len(d) >= _MAX_REMEMBERED:
        d.clear()
    d[key] = value
    return value


def forget(tx: Tx) -> None:
    """The catalog changed in this command: what was remembered of it is not true any more."""
    tx.memo.forget(MEMO_KEY)


def by_sku(source: Source, sku: str) -> Item | None:
    if isinstance(source, Tx):
        kept = _memo(source)
        if sku in kept.skus:
            return kept.skus[sku]
        return _bounded(kept.skus, sku, by_sku(source.conn, sku))
    rows = source.execute(_ITEM_SQL + "WHERE v.sku = ?", (sku,)).fetchall()
    return _item(rows[0]) if rows else None


def by_barcode(source: Source, code: str) -> Item | None:
    try:
        key = normalize(code)
    except InvalidBarcode:
        return None
    if isinstance(source, Tx):
        kept = _memo(source)
        if key in kept.codes:
            return kept.codes[key]
        return _bounded(kept.codes, key, by_barcode(source.conn, key))
    rows = source.execute(
        _ITEM_SQL + "JOIN barcodes b ON b.sku = v.sku WHERE b.code = ?", (key,)
    ).fetchall()
    return _item(rows[0]) if rows else None


def price_points(source: Source, sku: str) -> list[PricePoint]:
    return price_points_for(source, {sku})[sku]


def price_points_for(source: Source, skus: set[str]) -> dict[str, list[PricePoint]]:
    if isinstance(source, Tx):
        kept = _memo(source)
        known = {sku: kept.points[sku] for sku in skus if sku in kept.points}
        if len(known) < len(skus):
            for sku, found in price_points_for(source.conn, set(skus) - known.keys()).items():
                known[sku] = _bounded(kept.points, sku, found)
        return known
    points: dict[str, list[PricePoint]] = {sku: [] for sku in skus}
    if not skus:
        return points
    marks = ",".join("?" * len(skus))
    for sku, version, amount, effective_at_ms in source.execute(
        f"SELECT sku, version, amount_minor, effective_at_ms FROM prices WHERE sku IN ({marks})",
        tuple(skus),
    ):
        points[sku].append(PricePoint(version, amount, effective_at_ms))
    return points


def barcodes_of(conn: apsw.Connection, sku: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT code FROM barcodes WHERE sku = ? ORDER BY code", (sku,))]


def search(conn: apsw.Connection, query: str, limit: int) -> list[Item]:
    like = f"%{query}%"
    rows = conn.execute(
        _ITEM_SQL + "WHERE v.sku LIKE ? OR p.name LIKE ? ORDER BY v.sku LIMIT ?",
        (like, like, limit),
    ).fetchall()
    return [_item(r) for r in rows]


def known_maps(conn: apsw.Connection) -> tuple[dict[str, int], dict[str, str], dict[str, str]]:
    """(tax class -> rate, sku -> product_id, barcode -> sku): what an import is checked against."""
    tax = dict(conn.execute("SELECT code, rate_ppm FROM tax_classes").fetchall())
    skus = dict(conn.execute("SELECT sku, product_id FROM variants").fetchall())
    codes = dict(conn.execute("SELECT code, sku FROM barcodes").fetchall())
    return tax, skus, codes
