"""Catalog reads used at the lane: find an item by SKU or scanned code, and its price points.

Read-only queries over the catalog projection; they run on whichever connection the caller
holds (the writer's inside a command, or a reader's).
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw
import msgspec

from core.barcode import InvalidBarcode, normalize
from core.price_lock import PricePoint


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


def by_sku(conn: apsw.Connection, sku: str) -> Item | None:
    rows = conn.execute(_ITEM_SQL + "WHERE v.sku = ?", (sku,)).fetchall()
    return _item(rows[0]) if rows else None


def by_barcode(conn: apsw.Connection, code: str) -> Item | None:
    try:
        key = normalize(code)
    except InvalidBarcode:
        return None
    rows = conn.execute(
        _ITEM_SQL + "JOIN barcodes b ON b.sku = v.sku WHERE b.code = ?", (key,)
    ).fetchall()
    return _item(rows[0]) if rows else None


def price_points(conn: apsw.Connection, sku: str) -> list[PricePoint]:
    return [
        PricePoint(version, amount, effective_at_ms)
        for version, amount, effective_at_ms in conn.execute(
            "SELECT version, amount_minor, effective_at_ms FROM prices WHERE sku = ?", (sku,)
        )
    ]


def price_points_for(conn: apsw.Connection, skus: set[str]) -> dict[str, list[PricePoint]]:
    points: dict[str, list[PricePoint]] = {sku: [] for sku in skus}
    if not skus:
        return points
    marks = ",".join("?" * len(skus))
    for sku, version, amount, effective_at_ms in conn.execute(
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
