"""Down-sync: applying the relay's change sets (catalog, prices, tax, settings, lane-token
revocations) to the store, idempotently.

Invariants:
- One change set is applied in one writer command (one transaction). Each change id is
  recorded in `sync_inbox` in that transaction, so a change set delivered twice (a lost
  response, a restart) applies nothing the second time; the down cursor (`down_after`) moves in
  the same transaction.
- Catalog changes become catalog events through `edge.catalog.service.import_document`, the
  path every import takes, so projections stay rebuildable from the log. The catalog changes of
  one set are imported as one document; if that document is refused, each change is retried
  alone so one bad change is isolated instead of sinking its neighbours.
- A change that cannot be applied (unknown SKU, another store's revocation, malformed payload)
  is recorded as `rejected` with the reason and skipped: it never blocks later changes and
  never vanishes (the engine raises an alarm for it).
- Conflict policy: a new price version is just a new version. The price lock (`core.price_lock`)
  keeps every locked cart line at the version it was scanned at until its lock expires, and
  the sale records the version it charged (`sold_under_lock` when it was superseded).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from edge.catalog.service import import_document
from core.errors import DomainError
from edge.store.writer import Tx
from schemas import events as ev
from schemas.catalog import CatalogDocument, PriceVersion, Product, TaxClass
from schemas.sync import Change, ConfigSet, LaneTokenRevoked

_CATALOG_KINDS = {
    "catalog.tax_class_set": (TaxClass, ev.TaxClassSet, "tax_class"),
    "catalog.product_upserted": (Product, ev.ProductUpserted, "product"),
    "catalog.price_set": (PriceVersion, ev.PriceSet, "price"),
}


class ChangeRejected(Exception):
    pass


@dataclass
class AppliedSet:
    applied: list[tuple[int, str]] = field(default_factory=list)  # (change_id, kind)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (id, kind, why)
    skipped: int = 0  # already in the inbox
    events: int = 0
    down_after: int = 0


def _catalog_item(change: Change):
    contract, wrapper, attr = _CATALOG_KINDS[change.kind]
    try:
        return msgspec.json.decode(change.payload, type=contract)
    except (msgspec.DecodeError, msgspec.ValidationError):
        try:  # the event body shape ({"price": {...}}) is accepted too
            return getattr(msgspec.json.decode(change.payload, type=wrapper), attr)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ChangeRejected(f"malformed {change.kind} payload: {exc}") from exc


def _document(changes: list[Change]) -> CatalogDocument:
    taxes, products, prices = [], [], []
    for change in changes:
        item = _catalog_item(change)
        {"catalog.tax_class_set": taxes, "catalog.product_upserted": products,
         "catalog.price_set": prices}[change.kind].append(item)
    return CatalogDocument(tax_classes=tuple(taxes), products=tuple(products),
                           prices=tuple(prices))


def _import(tx: Tx, changes: list[Change]) -> None:
    try:
        import_document(tx, _document(changes), lane_id=None)
    except DomainError as exc:
        errors = exc.extra.get("errors", [])
        why = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) or exc.detail
        raise ChangeRejected(why) from exc


def _apply_other(tx: Tx, change: Change, store_id: str) -> str:
    if change.kind == "config.set":
        cfg = _decode(change, ConfigSet)
        if cfg.store_id not in (None, store_id):
            return f"for store {cfg.store_id}; not this one"
        tx.conn.execute(
            "INSERT INTO sync_settings (key, value, change_id, applied_at_ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
            "change_id = excluded.change_id, applied_at_ms = excluded.applied_at_ms "
            "WHERE excluded.change_id > sync_settings.change_id",
            (cfg.key, cfg.value, change.change_id, tx.now_ms),
        )
        return f"{cfg.key} set"
    if change.kind == "lane.token_revoked":
        rev = _decode(change, LaneTokenRevoked)
        if rev.store_id != store_id:
            return f"for store {rev.store_id}; not this one"
        sql = "UPDATE lane_tokens SET revoked_at_ms = ? WHERE lane_id = ? AND revoked_at_ms IS NULL"
        args: tuple = (tx.now_ms, rev.lane_id)
        if rev.token_id is not None:
            sql += " AND token_id = ?"
            args += (rev.token_id,)
        tx.conn.execute(sql, args)
        return f"{tx.conn.changes()} token(s) of lane {rev.lane_id} revoked"
    raise ChangeRejected(f"unknown change kind {change.kind!r}")


def _decode(change: Change, typ: type):
    try:
        return msgspec.json.decode(change.payload, type=typ)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ChangeRejected(f"malformed {change.kind} payload: {exc}") from exc


def _savepoint(tx: Tx, fn) -> str | None:
    """Run `fn` in a savepoint; on failure undo it (and the events it appended) and return
    why, else None. The writer's own per-command savepoint wraps all of this."""
    saved = (tx.head_seq, tx.head_hash, len(tx.appended))
    tx.conn.execute("SAVEPOINT sync_change")
    try:
        fn()
    except (ChangeRejected, DomainError) as exc:
        tx.conn.execute("ROLLBACK TO sync_change")
        tx.conn.execute("RELEASE sync_change")
        tx.head_seq, tx.head_hash = saved[0], saved[1]
        del tx.appended[saved[2]:]
        return str(exc) or type(exc).__name__
    tx.conn.execute("RELEASE sync_change")
    return None


def _record(tx: Tx, change: Change, status: str, detail: str, first: int, last: int,
            out: AppliedSet) -> None:
    tx.conn.execute(
        "INSERT INTO sync_inbox (change_id, kind, status, detail, first_seq, last_seq, "
        "applied_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (change.change_id, change.kind, status, detail[:2000],
         first + 1 if last > first else None, last if last > first else None, tx.now_ms),
    )
    if status == "applied":
        out.applied.append((change.change_id, change.kind))
    else:
        out.rejected.append((change.change_id, change.kind, detail))


def apply_change_set(tx: Tx, changes: list[Change], *, store_id: str,
                     next_after: int = 0) -> AppliedSet:
    """The writer command for one change set (see the module invariants). `next_after` is the
    relay's cursor after this set (it may pass change ids meant for other stores)."""
    out = AppliedSet()
    start = tx.head_seq
    seen = {row[0] for row in tx.conn.execute(
        "SELECT change_id FROM sync_inbox WHERE change_id IN (SELECT value FROM json_each(?))",
        (msgspec.json.encode([c.change_id for c in changes]).decode(),),
    )}
    fresh = sorted((c for c in changes if c.change_id not in seen), key=lambda c: c.change_id)
    out.skipped = len(changes) - len(fresh)
    catalog = [c for c in fresh if c.kind in _CATALOG_KINDS]
    if catalog:
        first = tx.head_seq
        if _savepoint(tx, lambda: _import(tx, catalog)) is None:
            for c in catalog:  # one import for all: each inbox row names the import's events
                _record(tx, c, "applied", "imported", first, tx.head_seq, out)
        else:
            for c in catalog:
                first = tx.head_seq
                why = _savepoint(tx, lambda c=c: _import(tx, [c]))
                _record(tx, c, "rejected" if why else "applied", why or "imported", first,
                        tx.head_seq, out)
    for c in fresh:
        if c.kind in _CATALOG_KINDS:
            continue
        result: list[str] = []
        why = _savepoint(tx, lambda c=c, r=result: r.append(_apply_other(tx, c, store_id)))
        _record(tx, c, "rejected" if why else "applied", why or result[0], tx.head_seq,
                tx.head_seq, out)
    out.events = tx.head_seq - start
    out.down_after = max([next_after, *(c.change_id for c in changes)])
    tx.conn.execute("UPDATE sync_state SET down_after = max(down_after, ?) WHERE id = 1",
                    (out.down_after,))
    return out
