"""Down-sync publishing: HQ's changes for the stores, with consecutive change ids per tenant,
and HQ's catalog state that the next publish is validated against.

Invariants:
- A publish is one transaction under the tenant's row lock: its changes get consecutive ids,
  and two publishes never validate against the same old catalog state.
- (sku, version) names one price forever: re-publishing it unchanged adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cloud_relay.storage.backend import Backend, Tx, ensure_tenant
from schemas.sync import Change


@dataclass(frozen=True, slots=True)
class NewChange:
    kind: str
    payload: bytes
    store_id: str | None = None  # None: for every store of the tenant


@dataclass(frozen=True, slots=True)
class CatalogState:
    """What HQ has published so far, for validating the next publish."""

    tax_classes: dict[str, int]  # code -> rate_ppm
    skus: dict[str, str]  # sku -> product_id
    barcodes: dict[str, str]  # normalized barcode -> sku
    prices: dict[tuple[str, int], tuple[int, int]]  # (sku, version) -> (amount, effective_ms)


@dataclass(frozen=True, slots=True)
class PublishPlan:
    changes: list[NewChange]
    tax_classes: list[tuple[str, int]] = field(default_factory=list)
    skus: list[tuple[str, str]] = field(default_factory=list)
    barcodes: list[tuple[str, str]] = field(default_factory=list)
    prices: list[tuple[str, int, int, int]] = field(default_factory=list)


class Publish(Backend):
    def publish(self, tenant_id: str, build: Callable[[CatalogState], PublishPlan],
                now_ms: int) -> tuple[int, int] | None:
        """Append HQ changes with consecutive change ids, and HQ's catalog state, in one
        transaction. `build` sees the catalog as published so far (read under the tenant's
        lock, so two publishes cannot both validate against the same old state)."""
        with self._write() as tx:
            ensure_tenant(tx, tenant_id, now_ms)
            tx.rows("SELECT last_change_id FROM tenants WHERE tenant_id = ?" + self.FOR_UPDATE,
                    (tenant_id,))
            plan = build(self._catalog_state(tx, tenant_id))
            if not plan.changes:
                return None
            n = len(plan.changes)
            first = self._append_changes(tx, tenant_id, plan.changes, now_ms)
            tx.many("INSERT INTO hq_tax_classes (tenant_id, code, rate_ppm) VALUES (?, ?, ?) "
                    "ON CONFLICT (tenant_id, code) DO UPDATE SET rate_ppm = excluded.rate_ppm",
                    [(tenant_id, *r) for r in plan.tax_classes])
            tx.many("INSERT INTO hq_skus (tenant_id, sku, product_id) VALUES (?, ?, ?) "
                    "ON CONFLICT (tenant_id, sku) DO NOTHING",
                    [(tenant_id, *r) for r in plan.skus])
            tx.many("INSERT INTO hq_barcodes (tenant_id, code, sku) VALUES (?, ?, ?) "
                    "ON CONFLICT (tenant_id, code) DO NOTHING",
                    [(tenant_id, *r) for r in plan.barcodes])
            tx.many("INSERT INTO hq_prices (tenant_id, sku, version, amount_minor, "
                    "effective_at_ms) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (tenant_id, sku, version) DO NOTHING",
                    [(tenant_id, *p) for p in plan.prices])
        return first, first + n - 1

    def _append_changes(self, tx: Tx, tenant_id: str, changes: list[NewChange],
                        now_ms: int) -> int:
        """Append changes with consecutive ids inside `tx` (the tenant row exists); returns
        the first id."""
        n = len(changes)
        row = tx.one("UPDATE tenants SET last_change_id = last_change_id + ? "
                     "WHERE tenant_id = ? RETURNING last_change_id", (n, tenant_id))
        assert row is not None
        first = row[0] - n + 1
        tx.many("INSERT INTO changes (tenant_id, change_id, kind, payload, store_id, "
                "created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                [(tenant_id, first + i, c.kind, c.payload, c.store_id, now_ms)
                 for i, c in enumerate(changes)])
        return first

    def _catalog_state(self, tx: Tx, tenant_id: str) -> CatalogState:
        tax = dict(tx.rows("SELECT code, rate_ppm FROM hq_tax_classes WHERE tenant_id = ?",
                           (tenant_id,)))
        skus = dict(tx.rows("SELECT sku, product_id FROM hq_skus WHERE tenant_id = ?",
                            (tenant_id,)))
        codes = dict(tx.rows("SELECT code, sku FROM hq_barcodes WHERE tenant_id = ?",
                             (tenant_id,)))
        prices = {(r[0], r[1]): (r[2], r[3]) for r in tx.rows(
            "SELECT sku, version, amount_minor, effective_at_ms FROM hq_prices "
            "WHERE tenant_id = ?", (tenant_id,))}
        return CatalogState(tax, skus, codes, prices)

    def changes(self, tenant_id: str, store_id: str, after: int, limit: int) -> list[Change]:
        with self._read() as tx:
            rows = tx.rows("SELECT change_id, kind, payload, created_at_ms FROM changes "
                           "WHERE tenant_id = ? AND change_id > ? AND (store_id IS NULL OR "
                           "store_id = ?) ORDER BY change_id LIMIT ?",
                           (tenant_id, after, store_id, limit))
        return [Change(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def prices(self, tenant_id: str) -> dict[str, list[tuple[int, int, int]]]:
        """sku -> [(version, amount_minor, effective_at_ms)] by version."""
        with self._read() as tx:
            rows = tx.rows("SELECT sku, version, amount_minor, effective_at_ms FROM hq_prices "
                           "WHERE tenant_id = ? ORDER BY sku, version", (tenant_id,))
        out: dict[str, list[tuple[int, int, int]]] = {}
        for sku, version, amount, effective in rows:
            out.setdefault(sku, []).append((version, amount, effective))
        return out
