"""Down-sync: HQ publishes changes, stores pull them by a per-tenant monotonic `change_id`.

A catalog publish is the same document (JSON or CSV) a store imports, validated by the same
code (`core.catalog`) against what HQ has published before, all-or-nothing. Each
tax class, product and price becomes one change; config settings and lane-token revocations
are changes too, optionally aimed at one store. A store sees the tenant-wide changes and its
own, in `change_id` order; its cursor is the last id it applied (reported on the watermark
call, visible to HQ in sync status).

Invariant: (sku, version) names one price forever, on the relay as on the edge: re-publishing
it unchanged is a no-op, changing it is refused.
"""

from __future__ import annotations

import msgspec

from cloud_relay.errors import Rejected
from cloud_relay.storage.base import Storage
from cloud_relay.storage.publish import CatalogState, NewChange, PublishPlan
from core.catalog import (
    CatalogImportError,
    at_csv_lines,
    parse_csv_with_lines,
    parse_json,
    validate,
)
from core.clock import to_ms
from core.errors import BadRequest
from schemas.catalog import CatalogDocument
from schemas.relay import PublishChanges, PublishResult
from schemas.sync import ChangeSet

_encode = msgspec.json.encode
MAX_PUBLISH_ITEMS = 1_000  # config settings + lane revocations per request


def change_set(storage: Storage, tenant_id: str, store_id: str, after: int,
               limit: int) -> ChangeSet:
    found = storage.changes(tenant_id, store_id, after, limit + 1)
    page = found[:limit]
    return ChangeSet(tenant_id=tenant_id, store_id=store_id, changes=page,
                     next_after=page[-1].change_id if page else after, more=len(found) > limit)


def _rejected(exc: CatalogImportError) -> Rejected:
    return Rejected(f"{len(exc.errors)} problem(s) in the catalog; nothing was published",
                    errors=[{"row": e.row, "field": e.field, "message": e.message}
                            for e in exc.errors])


def _catalog_plan(doc: CatalogDocument, state: CatalogState,
                  csv_lines: dict[str, int] | None) -> PublishPlan:
    try:
        doc = validate(doc, known_tax_classes=state.tax_classes, known_skus=state.skus,
                       known_barcodes=state.barcodes)
    except CatalogImportError as exc:
        raise _rejected(at_csv_lines(exc, csv_lines) if csv_lines else exc) from None
    plan = PublishPlan(changes=[])
    for t in doc.tax_classes:
        plan.changes.append(NewChange("catalog.tax_class_set", _encode(t)))
        plan.tax_classes.append((t.code, t.rate_ppm))
    for p in doc.products:
        plan.changes.append(NewChange("catalog.product_upserted", _encode(p)))
        for v in p.variants:
            plan.skus.append((v.sku, p.product_id))
            plan.barcodes.extend((code, v.sku) for code in v.barcodes)
    problems = []
    for i, price in enumerate(doc.prices):
        effective_ms = to_ms(price.effective_at)
        known = state.prices.get((price.sku, price.version))
        if known is not None:
            if known != (price.amount_minor, effective_ms):
                problems.append({"row": i + 1, "field": f"prices[{i}]",
                                 "message": f"{price.sku} version {price.version} was published "
                                 "with another amount or effective time; publish a new version"})
            continue  # unchanged re-publish: nothing new to send down
        plan.changes.append(NewChange("catalog.price_set", _encode(price)))
        plan.prices.append((price.sku, price.version, price.amount_minor, effective_ms))
    if problems:
        raise Rejected(f"{len(problems)} problem(s) in the catalog; nothing was published",
                       errors=problems)
    return plan


def publish(storage: Storage, tenant_id: str, doc: PublishChanges,
            now_ms: int) -> PublishResult:
    if len(doc.config) + len(doc.lane_revocations) > MAX_PUBLISH_ITEMS:
        raise BadRequest(f"at most {MAX_PUBLISH_ITEMS} config settings and lane revocations "
                         "per request")
    return _publish(storage, tenant_id, doc, None, now_ms)


def publish_catalog_file(storage: Storage, tenant_id: str, raw: bytes, is_csv: bool,
                         now_ms: int) -> PublishResult:
    try:
        if is_csv:
            doc, lines = parse_csv_with_lines(raw.decode("utf-8"))
        else:
            doc, lines = parse_json(raw), None
    except CatalogImportError as exc:
        raise _rejected(exc) from None
    except UnicodeDecodeError as exc:
        raise BadRequest(f"CSV must be UTF-8: {exc}") from None
    return _publish(storage, tenant_id, PublishChanges(catalog=doc), lines, now_ms)


def _publish(storage: Storage, tenant_id: str, doc: PublishChanges,
             csv_lines: dict[str, int] | None, now_ms: int) -> PublishResult:
    def build(state: CatalogState) -> PublishPlan:
        plan = (_catalog_plan(doc.catalog, state, csv_lines) if doc.catalog is not None
                else PublishPlan(changes=[]))
        plan.changes.extend(NewChange("config.set", _encode(c), c.store_id) for c in doc.config)
        plan.changes.extend(NewChange("lane.token_revoked", _encode(r), r.store_id)
                            for r in doc.lane_revocations)
        return plan

    ids = storage.publish(tenant_id, build, now_ms)
    if ids is None:
        return PublishResult(tenant_id=tenant_id, changes=0, first_change_id=None,
                             last_change_id=None)
    return PublishResult(tenant_id=tenant_id, changes=ids[1] - ids[0] + 1,
                         first_change_id=ids[0], last_change_id=ids[1])
