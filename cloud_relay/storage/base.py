"""The relay's storage interface, and the SQL both backends share.

All relay state lives here, so relay processes are stateless per request and several can run
side by side on one PostgreSQL. A backend supplies connections, transactions, migrations, its
in-flight marker for idempotency keys and its fastest way to insert a batch's events; the SQL
of every operation (written with `?` placeholders) is shared.

Invariants:
- One batch = one write transaction: its events, the store's new watermark and the stored ack
  commit together; an ack is returned only after that commit.
- `UNIQUE(store_id, seq)` and `UNIQUE(event_id)` make dedupe permanent; the idempotency-key
  table only replays acks, it is not what prevents double storage.
- `ledger_seq` is assigned per tenant from a counter row updated inside the ingest transaction,
  so its lock is held until commit: a transaction that takes numbers after another commits
  after it, and a reader paging `ledger_seq > cursor` can never skip a row committed late.
"""

from __future__ import annotations

import abc
import contextlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from cloud_relay import batch as batch_mod
from cloud_relay.errors import AlreadyExists, refuse
from cloud_relay.sealing import Sealer
from core import idempotency
from core.chain import GENESIS_HASH
from core.errors import NotFound
from core.idempotency import Answer, Replayed, StoredResponse
from schemas.relay import StoreRecord, StoreSyncStatus
from schemas.sync import Batch, BatchAck, Change, QuarantinedEvent, StoreWatermark

EVENT_COLUMNS = (
    "store_id", "seq", "tenant_id", "ledger_seq", "event_id", "lane_id", "stream", "type",
    "schema_version", "recorded_at_ms", "business_date", "body", "prev_hash", "hash",
    "received_at_ms", "quarantine",
)
LEDGER_COLUMNS = (
    "ledger_seq, store_id, seq, event_id, lane_id, stream, type, schema_version, recorded_at_ms, "
    "business_date, prev_hash, hash, body, received_at_ms, quarantine"
)

# Event types with a partial index on (tenant_id, business_date, store_id), by index name, in
# both backends' migrations. A report reading another type needs an index migration too
# (`test_storage_indexes` checks it). Only rows of these (few) types pay for an index entry.
TYPE_INDEXES: dict[str, str] = {
    "sale.completed": "events_sales_day",
    "order.refund_created": "events_refund_created_day",
    "payment.refunded": "events_refunded_day",
    "payment.forward_declined": "events_forward_declined_day",
    "payment.stored": "events_stored_day",
}
INDEXED_TYPES = frozenset(TYPE_INDEXES)


_ack_encoder = msgspec.msgpack.Encoder()
_ack_decoder = msgspec.msgpack.Decoder(BatchAck)


@dataclass(frozen=True, slots=True)
class Credential:
    tenant_id: str
    store_id: str
    key_id: str
    secret: bytes
    revoked: bool


@dataclass(frozen=True, slots=True)
class LedgerRow:
    ledger_seq: int
    store_id: str
    seq: int
    event_id: str
    lane_id: str | None
    stream: str
    type: str
    schema_version: int
    recorded_at_ms: int
    business_date: str
    prev_hash: bytes
    hash: bytes
    body: bytes
    received_at_ms: int
    quarantine: str | None


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


class Tx(abc.ABC):
    """A transaction's cursor: `?` placeholders on every backend."""

    @abc.abstractmethod
    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]: ...

    @abc.abstractmethod
    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple | None:
        found = self.rows(sql, args)
        return found[0] if found else None


class AckKeys:
    """`core.idempotency.KeyStore` over `idempotency_keys`, inside the batch's transaction. The
    scope is the store. A stored response is always the batch's 200 ack (msgpack `BatchAck`):
    the relay stores nothing else under a key, so the table keeps no status column."""

    __slots__ = ("_tx", "_now_ms")

    def __init__(self, tx: Tx, now_ms: int) -> None:
        self._tx, self._now_ms = tx, now_ms

    def lookup(self, scope: str, key: str) -> StoredResponse | None:
        row = self._tx.one("SELECT fingerprint, ack FROM idempotency_keys WHERE store_id = ? "
                           "AND key = ?", (scope, key))
        return StoredResponse(bytes(row[0]), 200, bytes(row[1])) if row else None

    def save(self, scope: str, key: str, response: StoredResponse) -> None:
        assert response.status == 200, response.status
        self._tx.rows("INSERT INTO idempotency_keys (store_id, key, fingerprint, ack, "
                      "created_at_ms) VALUES (?, ?, ?, ?, ?)",
                      (scope, key, response.fingerprint, response.body, self._now_ms))


class Storage(abc.ABC):
    """Shared logic; subclasses provide `_write`, `_read`, `_insert_events`, `_write_holding`,
    `hold_key`, `close`, `FOR_UPDATE`."""

    FOR_UPDATE = ""
    backend = "abstract"
    epoch: str
    sealer: Sealer = Sealer(None)  # store secrets at rest; set by `open_storage`

    # --- backend hooks ---------------------------------------------------------------------

    @abc.abstractmethod
    def _write(self) -> contextlib.AbstractContextManager[Tx]:
        """A write transaction (committed on clean exit, rolled back on an exception)."""

    @abc.abstractmethod
    def _read(self) -> contextlib.AbstractContextManager[Tx]:
        """A read-only snapshot."""

    @abc.abstractmethod
    def _insert_events(self, tx: Tx, rows: list[tuple]) -> None:
        """Insert event rows in `EVENT_COLUMNS` order, as fast as the backend can."""

    @abc.abstractmethod
    def _write_holding(self, scope: str, key: str) -> contextlib.AbstractContextManager[Tx]:
        """A write transaction during which the idempotency key (scope, key) is held in
        flight; raises `IdempotencyKeyInFlight` if another request holds it."""

    @abc.abstractmethod
    def hold_key(self, scope: str, key: str) -> contextlib.AbstractContextManager[None]:
        """Hold a key in flight (as a concurrent request would) until the block exits."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def rotate_epoch(self) -> str:
        """A new relay epoch, for after a restore from backup: ledger positions handed out
        since the backup may be re-assigned to other events, so every HQ cursor must resync.
        Run with the relay processes stopped (each reads the epoch when it starts)."""
        new = secrets.token_hex(8)
        with self._write() as tx:
            tx.rows("UPDATE meta SET value = ? WHERE key = 'relay_epoch'", (new,))
        self.epoch = new
        return new

    # --- stores and credentials ------------------------------------------------------------

    def enroll_store(self, tenant_id: str, store_id: str, key_id: str, secret: bytes,
                     now_ms: int) -> None:
        with self._write() as tx:
            row = tx.one("SELECT tenant_id, revoked_at_ms FROM stores WHERE store_id = ?",
                         (store_id,))
            if row is not None and row[0] != tenant_id:
                raise AlreadyExists(f"store id {store_id!r} is enrolled for another tenant; "
                                    "store ids are unique across the relay")
            if row is not None and row[1] is None:
                raise AlreadyExists(f"store {store_id} is already enrolled; revoke it first to "
                                    "issue a new credential")
            self._ensure_tenant(tx, tenant_id, now_ms)
            if row is None:
                tx.rows(
                    "INSERT INTO stores (store_id, tenant_id, key_id, secret, enrolled_at_ms, "
                    "high_seq, last_hash, applied_change_id) VALUES (?, ?, ?, ?, ?, 0, ?, 0)",
                    (store_id, tenant_id, key_id, self.sealer.seal(secret), now_ms,
                     GENESIS_HASH))
            else:  # re-enrolled after a revocation: new key, same ledger
                tx.rows("UPDATE stores SET key_id = ?, secret = ?, enrolled_at_ms = ?, "
                        "revoked_at_ms = NULL WHERE store_id = ?",
                        (key_id, self.sealer.seal(secret), now_ms, store_id))

    def _ensure_tenant(self, tx: Tx, tenant_id: str, now_ms: int) -> None:
        tx.rows("INSERT INTO tenants (tenant_id, next_ledger_seq, last_change_id, created_at_ms) "
                "VALUES (?, 1, 0, ?) ON CONFLICT (tenant_id) DO NOTHING", (tenant_id, now_ms))

    def revoke_store(self, store_id: str, now_ms: int) -> None:
        with self._write() as tx:
            found = tx.rows("UPDATE stores SET revoked_at_ms = ? WHERE store_id = ? AND "
                            "revoked_at_ms IS NULL RETURNING store_id", (now_ms, store_id))
            if not found:
                raise NotFound(f"no active store {store_id!r}")

    def list_stores(self, tenant_id: str | None = None) -> list[StoreRecord]:
        sql = "SELECT tenant_id, store_id, key_id, enrolled_at_ms, revoked_at_ms FROM stores"
        args: tuple = ()
        if tenant_id is not None:
            sql, args = sql + " WHERE tenant_id = ?", (tenant_id,)
        with self._read() as tx:
            return [StoreRecord(*r) for r in tx.rows(sql + " ORDER BY tenant_id, store_id", args)]

    def credential(self, key_id: str) -> Credential | None:
        with self._read() as tx:
            row = tx.one("SELECT tenant_id, store_id, key_id, secret, revoked_at_ms FROM stores "
                         "WHERE key_id = ?", (key_id,))
        if row is None:
            return None
        return Credential(row[0], row[1], row[2], self.sealer.unseal(bytes(row[3])),
                          row[4] is not None)

    # --- HQ tokens -------------------------------------------------------------------------

    def create_hq_token(self, tenant_id: str, token_id: str, token_hash: bytes,
                        now_ms: int) -> None:
        with self._write() as tx:
            self._ensure_tenant(tx, tenant_id, now_ms)
            tx.rows("INSERT INTO hq_tokens (token_id, tenant_id, token_hash, created_at_ms) "
                    "VALUES (?, ?, ?, ?)", (token_id, tenant_id, token_hash, now_ms))

    def hq_tenant(self, token_hash: bytes) -> str | None:
        with self._read() as tx:
            row = tx.one("SELECT tenant_id FROM hq_tokens WHERE token_hash = ? AND "
                         "revoked_at_ms IS NULL", (token_hash,))
        return row[0] if row else None

    def revoke_hq_token(self, token_id: str, now_ms: int) -> None:
        with self._write() as tx:
            if not tx.rows("UPDATE hq_tokens SET revoked_at_ms = ? WHERE token_id = ? AND "
                           "revoked_at_ms IS NULL RETURNING token_id", (now_ms, token_id)):
                raise NotFound(f"no active HQ token {token_id!r}")

    # --- ingest ----------------------------------------------------------------------------

    def ingest(self, batch: Batch, fingerprint: bytes, now_ms: int,
               acked_through: int | None = None) -> BatchAck:
        """Store the new tail of an already checked batch (`batch.check_batch`) in one
        transaction and return the ack, at most once per batch id (`core.idempotency`): a
        completed key replays its first ack with `stored=0`, other bytes under it are refused
        (422), and a key another request holds is in flight (409)."""
        reasons = [batch_mod.quarantine_reason(ev) for ev in batch.events]
        with self._write_holding(batch.store_id, batch.batch_id) as tx:
            outcome = idempotency.once(
                AckKeys(tx, now_ms), batch.store_id, batch.batch_id, fingerprint,
                lambda: Answer(200, _ack_encoder.encode(
                    self._store_tail(tx, batch, reasons, fingerprint, now_ms, acked_through))))
        ack = _ack_decoder.decode(outcome.response.body)
        return msgspec.structs.replace(ack, stored=0) if isinstance(outcome, Replayed) else ack

    def _store_tail(self, tx: Tx, batch: Batch, reasons: list[str | None], fingerprint: bytes,
                    now_ms: int, acked_through: int | None) -> BatchAck:
        """The effect of a batch not seen before under its key: the events the ledger lacks,
        the store's new watermark; the ack for them."""
        state = tx.one("SELECT tenant_id, high_seq, last_hash FROM stores WHERE store_id = ?"
                       + self.FOR_UPDATE, (batch.store_id,))
        if state is None or state[0] != batch.tenant_id:
            raise refuse("store_mismatch", f"store {batch.store_id} is not enrolled for "
                         f"tenant {batch.tenant_id}")
        high, last_hash = state[1], bytes(state[2])

        def hash_at(seq: int) -> bytes | None:
            if seq == high:
                return last_hash
            row = tx.one("SELECT hash FROM events WHERE store_id = ? AND seq = ?",
                         (batch.store_id, seq))
            return bytes(row[0]) if row else None

        start = batch_mod.plan_tail(batch, high, hash_at, acked_through)
        tail = batch.events[start:]
        quarantined = [QuarantinedEvent(ev.seq, ev.event_id, reason)
                       for ev, reason in zip(tail, reasons[start:]) if reason is not None]
        if tail:
            base = self._reserve_ledger(tx, batch.tenant_id, len(tail))
            tenant, store = batch.tenant_id, batch.store_id
            self._insert_events(tx, [
                (store, ev.seq, tenant, base + i, ev.event_id, ev.lane_id, ev.stream, ev.type,
                 ev.schema_version, ev.recorded_at_ms, ev.business_date, ev.body,
                 ev.prev_hash, ev.hash, now_ms, reason)
                for i, (ev, reason) in enumerate(zip(tail, reasons[start:]))
            ])
            high, last_hash = tail[-1].seq, tail[-1].hash
        tx.rows("UPDATE stores SET high_seq = ?, last_hash = ?, last_seen_ms = ? "
                "WHERE store_id = ?", (high, last_hash, now_ms, batch.store_id))
        return BatchAck(batch_id=batch.batch_id, accepted_through_seq=high,
                        last_hash_hex=last_hash.hex(), stored=len(tail),
                        quarantined=quarantined, relay_epoch=self.epoch,
                        fingerprint_hex=fingerprint.hex())

    def prune_keys(self, before_ms: int) -> int:
        """Forget completed idempotency keys older than `before_ms`. Safe at any age: a batch
        resent after its key is gone is entirely known, so it is acked again storing nothing."""
        with self._write() as tx:
            return len(tx.rows("DELETE FROM idempotency_keys WHERE created_at_ms < ? "
                               "RETURNING key", (before_ms,)))

    def _reserve_ledger(self, tx: Tx, tenant_id: str, count: int) -> int:
        # The row lock taken here is held until commit: ledger order is commit order.
        row = tx.one("UPDATE tenants SET next_ledger_seq = next_ledger_seq + ? "
                     "WHERE tenant_id = ? RETURNING next_ledger_seq", (count, tenant_id))
        assert row is not None, f"tenant {tenant_id} has no counter row"
        return row[0] - count

    def watermark(self, tenant_id: str, store_id: str, now_ms: int,
                  head_seq: int | None = None,
                  applied_change_id: int | None = None) -> StoreWatermark:
        with self._write() as tx:
            row = tx.one(
                "UPDATE stores SET last_seen_ms = ?, "
                "reported_head_seq = COALESCE(?, reported_head_seq), "
                "applied_change_id = COALESCE(?, applied_change_id) "
                "WHERE store_id = ? AND tenant_id = ? "
                "RETURNING high_seq, last_hash, last_seen_ms, applied_change_id",
                (now_ms, head_seq, applied_change_id, store_id, tenant_id))
        if row is None:
            raise NotFound(f"store {store_id} is not enrolled")
        return StoreWatermark(tenant_id=tenant_id, store_id=store_id, high_seq=row[0],
                              last_hash_hex=bytes(row[1]).hex(), relay_epoch=self.epoch,
                              last_seen_ms=row[2], applied_catalog_change_id=row[3])

    # --- reading the ledger ----------------------------------------------------------------

    def ledger(self, tenant_id: str, after_ledger_seq: int, limit: int,
               store_id: str | None = None) -> list[LedgerRow]:
        sql = f"SELECT {LEDGER_COLUMNS} FROM events WHERE tenant_id = ? AND ledger_seq > ?"
        args: list[Any] = [tenant_id, after_ledger_seq]
        if store_id is not None:
            sql += " AND store_id = ?"
            args.append(store_id)
        with self._read() as tx:
            rows = tx.rows(sql + " ORDER BY ledger_seq LIMIT ?", (*args, limit))
        return [_ledger_row(r) for r in rows]

    def ledger_count(self, tenant_id: str, after_ledger_seq: int = 0) -> int:
        with self._read() as tx:
            row = tx.one("SELECT count(*) FROM events WHERE tenant_id = ? AND ledger_seq > ?",
                         (tenant_id, after_ledger_seq))
        return int(row[0]) if row else 0

    def store_events(self, store_id: str, after_seq: int = 0,
                     limit: int = 1_000_000) -> list[LedgerRow]:
        """One store's events in seq order (for comparisons with the edge's log)."""
        with self._read() as tx:
            rows = tx.rows(f"SELECT {LEDGER_COLUMNS} FROM events WHERE store_id = ? AND seq > ? "
                           "ORDER BY seq LIMIT ?", (store_id, after_seq, limit))
        return [_ledger_row(r) for r in rows]

    def events_of_type(self, tenant_id: str, type_: str, store_id: str | None,
                       business_date: str | None) -> Iterator[LedgerRow]:
        """Events of one type. Types in `INDEXED_TYPES` are served by their partial index
        (named as a literal so both planners match it); others scan the tenant's events."""
        if type_ in INDEXED_TYPES:
            sql = f"SELECT {LEDGER_COLUMNS} FROM events WHERE tenant_id = ? AND type = '{type_}'"
            args: list[Any] = [tenant_id]
        else:
            sql = f"SELECT {LEDGER_COLUMNS} FROM events WHERE tenant_id = ? AND type = ?"
            args = [tenant_id, type_]
        if store_id is not None:
            sql += " AND store_id = ?"
            args.append(store_id)
        if business_date is not None:
            sql += " AND business_date = ?"
            args.append(business_date)
        with self._read() as tx:
            rows = tx.rows(sql + " ORDER BY store_id, seq", args)
        return (_ledger_row(r) for r in rows)

    def last_of_stream(self, store_id: str, stream: str, type_: str,
                       before_seq: int) -> LedgerRow | None:
        """The store's latest event of `type_` in `stream` before `before_seq`: a backward walk
        of the primary key from `before_seq`, short when the event is close (a payment's
        `payment.created` is a few events before its result). No stream index: that would cost
        every ingested event an index entry for a rare look-up."""
        with self._read() as tx:
            row = tx.one(f"SELECT {LEDGER_COLUMNS} FROM events WHERE store_id = ? AND seq < ? "
                         "AND stream = ? AND type = ? ORDER BY seq DESC LIMIT 1",
                         (store_id, before_seq, stream, type_))
        return _ledger_row(row) if row is not None else None

    def sales_between(self, tenant_id: str, store_id: str, first_date: str, last_date: str,
                      after_seq: int, before_seq: int) -> list[LedgerRow]:
        """A store's sales recorded strictly between two of its events (by seq), read through
        the sales index over the business days those two events span."""
        with self._read() as tx:
            rows = tx.rows(
                f"SELECT {LEDGER_COLUMNS} FROM events WHERE tenant_id = ? AND "
                "type = 'sale.completed' AND business_date >= ? AND business_date <= ? AND "
                "store_id = ? AND seq > ? AND seq < ? ORDER BY seq",
                (tenant_id, first_date, last_date, store_id, after_seq, before_seq))
        return [_ledger_row(r) for r in rows]

    def quarantined(self, tenant_id: str, limit: int = 10_000) -> list[LedgerRow]:
        with self._read() as tx:
            rows = tx.rows(f"SELECT {LEDGER_COLUMNS} FROM events WHERE tenant_id = ? AND "
                           "quarantine IS NOT NULL ORDER BY ledger_seq LIMIT ?",
                           (tenant_id, limit))
        return [_ledger_row(r) for r in rows]

    def clear_quarantine(self, tenant_id: str, store_id: str, seqs: list[int]) -> None:
        """Events this build now interprets (after an upgrade) leave quarantine."""
        with self._write() as tx:
            tx.many("UPDATE events SET quarantine = NULL WHERE tenant_id = ? AND store_id = ? "
                    "AND seq = ?", [(tenant_id, store_id, s) for s in seqs])

    def sync_status(self, tenant_id: str) -> list[StoreSyncStatus]:
        with self._read() as tx:
            latest = tx.one("SELECT last_change_id FROM tenants WHERE tenant_id = ?",
                            (tenant_id,))
            counts = dict(tx.rows(
                "SELECT store_id, count(*) FROM events WHERE tenant_id = ? AND quarantine IS NOT "
                "NULL GROUP BY store_id", (tenant_id,)))
            rows = tx.rows(
                "SELECT store_id, enrolled_at_ms, revoked_at_ms, high_seq, last_hash, "
                "last_seen_ms, reported_head_seq, applied_change_id FROM stores "
                "WHERE tenant_id = ? ORDER BY store_id", (tenant_id,))
        return [
            StoreSyncStatus(
                tenant_id=tenant_id, store_id=r[0], enrolled_at_ms=r[1], revoked=r[2] is not None,
                high_seq=r[3], last_hash_hex=bytes(r[4]).hex(), last_seen_ms=r[5],
                reported_head_seq=r[6],
                lag_events=None if r[6] is None else max(0, r[6] - r[3]),
                applied_catalog_change_id=r[7], latest_change_id=latest[0] if latest else 0,
                quarantined=counts.get(r[0], 0),
            )
            for r in rows
        ]

    # --- down-sync -------------------------------------------------------------------------

    def publish(self, tenant_id: str, build: Callable[[CatalogState], PublishPlan],
                now_ms: int) -> tuple[int, int] | None:
        """Append HQ changes with consecutive change ids, and HQ's catalog state, in one
        transaction. `build` sees the catalog as published so far (read under the tenant's
        lock, so two publishes cannot both validate against the same old state)."""
        with self._write() as tx:
            self._ensure_tenant(tx, tenant_id, now_ms)
            tx.rows("SELECT last_change_id FROM tenants WHERE tenant_id = ?" + self.FOR_UPDATE,
                    (tenant_id,))
            plan = build(self._catalog_state(tx, tenant_id))
            if not plan.changes:
                return None
            n = len(plan.changes)
            row = tx.one("UPDATE tenants SET last_change_id = last_change_id + ? "
                         "WHERE tenant_id = ? RETURNING last_change_id", (n, tenant_id))
            assert row is not None
            first = row[0] - n + 1
            tx.many("INSERT INTO changes (tenant_id, change_id, kind, payload, store_id, "
                    "created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    [(tenant_id, first + i, c.kind, c.payload, c.store_id, now_ms)
                     for i, c in enumerate(plan.changes)])
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


def _ledger_row(r: tuple) -> LedgerRow:
    return LedgerRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bytes(r[10]),
                     bytes(r[11]), bytes(r[12]), r[13], r[14])
