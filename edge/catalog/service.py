"""Applying a catalog import: validated against what the store already has, then appended as
events (tax classes, products, prices) in one command, so an import lands whole or not at all."""

from __future__ import annotations

from core.catalog import (
    CatalogImportError,
    at_csv_lines,
    parse_csv_with_lines,
    parse_json,
    validate,
)
from core.clock import to_ms
from edge.catalog import lookup
from edge.errors import CatalogRejected
from edge.store.writer import Tx
from schemas import api
from schemas import events as ev
from schemas.catalog import CatalogDocument


def parse_upload(data: bytes, *, is_csv: bool) -> tuple[CatalogDocument, dict[str, int] | None]:
    """An import file as a document (and, for CSV, its line map); CatalogRejected if malformed."""
    try:
        if is_csv:
            return parse_csv_with_lines(data.decode("utf-8"))
        return parse_json(data), None
    except CatalogImportError as exc:
        raise rejected(exc) from exc
    except UnicodeDecodeError as exc:
        raise CatalogRejected(f"CSV must be UTF-8: {exc}") from exc


def rejected(exc: CatalogImportError) -> CatalogRejected:
    return CatalogRejected(
        f"{len(exc.errors)} problem(s) in the import; nothing was imported",
        errors=[{"field": f"row {e.row}: {e.field}", "message": e.message} for e in exc.errors],
    )


def _check_prices_immutable(tx: Tx, doc: CatalogDocument) -> None:
    """(sku, version) names one price forever: re-sending it unchanged is fine, changing it is not."""
    errors = []
    for i, price in enumerate(doc.prices, start=1):
        rows = tx.conn.execute(
            "SELECT amount_minor, effective_at_ms FROM prices WHERE sku = ? AND version = ?",
            (price.sku, price.version),
        ).fetchall()
        if rows and rows[0] != (price.amount_minor, to_ms(price.effective_at)):
            errors.append({
                "field": f"row {i}: prices[{i - 1}]",
                "message": f"{price.sku} version {price.version} already exists with another "
                "amount or effective time; publish a new version instead",
            })
    if errors:
        raise CatalogRejected(f"{len(errors)} problem(s) in the import; nothing was imported",
                              errors=errors)


def import_document(
    tx: Tx, doc: CatalogDocument, *, lane_id: str | None, csv_lines: dict[str, int] | None = None,
) -> api.CatalogImportResult:
    """`csv_lines` (from `parse_csv_with_lines`) makes errors name CSV lines, not paths."""
    tax, skus, codes = lookup.known_maps(tx.conn)
    try:
        doc = validate(doc, known_tax_classes=tax, known_skus=skus, known_barcodes=codes)
    except CatalogImportError as exc:
        raise rejected(at_csv_lines(exc, csv_lines) if csv_lines else exc) from exc
    _check_prices_immutable(tx, doc)
    lookup.forget(tx)
    first = tx.head_seq
    for t in doc.tax_classes:
        tx.append(ev.TaxClassSet(tax_class=t), stream="catalog", lane_id=lane_id)
    for p in doc.products:
        tx.append(ev.ProductUpserted(product=p), stream="catalog", lane_id=lane_id)
    for price in doc.prices:
        tx.append(ev.PriceSet(price=price), stream="catalog", lane_id=lane_id)
    return api.CatalogImportResult(
        tax_classes=len(doc.tax_classes), products=len(doc.products), prices=len(doc.prices),
        events=tx.head_seq - first, last_seq=tx.head_seq,
    )
