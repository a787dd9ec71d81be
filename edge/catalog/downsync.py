"""Catalog changes from HQ (down-sync): tax classes, products and price versions become
catalog events through `import_document`, the path every import takes, so projections stay
rebuildable from the log. The changes of one set are imported as one document.

Conflict policy: a new price version is just a new version. The price lock (`core.price_lock`)
keeps every locked cart line at the version it was scanned at until its lock expires, and the
sale records the version it charged (`sold_under_lock` when it was superseded)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from edge.catalog.service import import_document
from schemas import events as ev
from schemas.catalog import CatalogDocument, PriceVersion, Product, TaxClass
from schemas.sync import Change
from sync.port import ChangeRejected, StoreTx

_KINDS = {
    "catalog.tax_class_set": (TaxClass, ev.TaxClassSet, "tax_class"),
    "catalog.product_upserted": (Product, ev.ProductUpserted, "product"),
    "catalog.price_set": (PriceVersion, ev.PriceSet, "price"),
}
KINDS = tuple(_KINDS)


def _item(change: Change):
    contract, wrapper, attr = _KINDS[change.kind]
    try:
        return msgspec.json.decode(change.payload, type=contract)
    except (msgspec.DecodeError, msgspec.ValidationError):
        try:  # the event body shape ({"price": {...}}) is accepted too
            return getattr(msgspec.json.decode(change.payload, type=wrapper), attr)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ChangeRejected(f"malformed {change.kind} payload: {exc}") from exc


def apply_catalog(tx: StoreTx, changes: Sequence[Change]) -> list[str]:
    parts: dict[str, list] = {kind: [] for kind in _KINDS}
    for change in changes:
        parts[change.kind].append(_item(change))
    doc = CatalogDocument(tax_classes=tuple(parts["catalog.tax_class_set"]),
                          products=tuple(parts["catalog.product_upserted"]),
                          prices=tuple(parts["catalog.price_set"]))
    import_document(tx, doc, lane_id=None)  # type: ignore[arg-type] - the store's own Tx
    return ["imported"] * len(changes)
