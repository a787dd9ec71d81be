"""Catalog read models: tax classes, products with variants and barcodes, price versions."""

from __future__ import annotations

import msgspec

from core.clock import to_ms
from edge.store.projector import Registrations
from schemas import events as ev

_json = msgspec.json.Encoder(order="sorted")

PROJECTIONS = Registrations()
TABLES = {
    "tax_classes": "code",
    "products": "product_id",
    "variants": "sku",
    "barcodes": "code",
    "prices": "sku, version",
}


@PROJECTIONS.on(ev.TaxClassSet)
def _tax_class(conn, _stored, body: ev.TaxClassSet) -> None:
    t = body.tax_class
    conn.execute(
        "INSERT INTO tax_classes(code, rate_ppm, name) VALUES (?,?,?) "
        "ON CONFLICT(code) DO UPDATE SET rate_ppm=excluded.rate_ppm, name=excluded.name",
        (t.code, t.rate_ppm, t.name),
    )


@PROJECTIONS.on(ev.ProductUpserted)
def _product(conn, _stored, body: ev.ProductUpserted) -> None:
    p = body.product
    conn.execute(
        "INSERT INTO products(product_id, name, tax_class, sold_by) VALUES (?,?,?,?) "
        "ON CONFLICT(product_id) DO UPDATE SET name=excluded.name, "
        "tax_class=excluded.tax_class, sold_by=excluded.sold_by",
        (p.product_id, p.name, p.tax_class, p.sold_by),
    )
    # The product's variant set and barcodes are replaced wholesale by the new version.
    conn.execute(
        "DELETE FROM barcodes WHERE sku IN (SELECT sku FROM variants WHERE product_id=?)",
        (p.product_id,),
    )
    conn.execute("DELETE FROM variants WHERE product_id=?", (p.product_id,))
    for v in p.variants:
        conn.execute(
            "INSERT INTO variants(sku, product_id, attributes) VALUES (?,?,?)",
            (v.sku, p.product_id, _json.encode(v.attributes).decode()),
        )
        for code in v.barcodes:
            conn.execute("INSERT INTO barcodes(code, sku) VALUES (?,?)", (code, v.sku))


@PROJECTIONS.on(ev.PriceSet)
def _price(conn, _stored, body: ev.PriceSet) -> None:
    p = body.price
    conn.execute(
        "INSERT INTO prices(sku, version, amount_minor, effective_at_ms) VALUES (?,?,?,?) "
        "ON CONFLICT(sku, version) DO UPDATE SET amount_minor=excluded.amount_minor, "
        "effective_at_ms=excluded.effective_at_ms",
        (p.sku, p.version, p.amount_minor, to_ms(p.effective_at)),
    )
