"""The store's upload side: ingesting a batch and the watermark the edge resumes from.

Invariants:
- One batch = one write transaction: its events, the store's new watermark and the stored ack
  commit together; an ack is returned only after that commit.
- At most once per batch id (`core.idempotency` over the `idempotency_keys` table): a completed
  key replays its first ack, other bytes under it are refused, a key held by a running request
  is in flight. The key table only replays acks: `PRIMARY KEY (tenant_id, store_id, seq)` and
  `UNIQUE (tenant_id, event_id)` are what make dedupe permanent, so a batch resent after its
  key was pruned stores nothing twice.
- A store is (tenant_id, store_id) in every statement: two tenants' `store-001` never meet.
- `ledger_seq` is assigned per tenant from a counter row updated inside the ingest
  transaction, so its lock is held until commit: a transaction that takes numbers after
  another commits after it, and a reader paging `ledger_seq > cursor` can never skip a row
  committed late.
"""

from __future__ import annotations

import msgspec

from cloud_relay import batch as batch_mod
from cloud_relay.errors import refuse
from cloud_relay.storage.backend import Backend, Tx
from core import idempotency
from core.errors import NotFound
from core.idempotency import Answer, Replayed, StoredResponse
from schemas.sync import Batch, BatchAck, QuarantinedEvent, StoreWatermark

_ack_encoder = msgspec.msgpack.Encoder()
_ack_decoder = msgspec.msgpack.Decoder(BatchAck)


class AckKeys:
    """`core.idempotency.KeyStore` over `idempotency_keys`, inside the batch's transaction. The
    scope is the store (of the tenant the keys are opened for). A stored response is always
    the batch's 200 ack (msgpack `BatchAck`): the relay stores nothing else under a key, so
    the table keeps no status column."""

    __slots__ = ("_tx", "_tenant_id", "_now_ms")

    def __init__(self, tx: Tx, tenant_id: str, now_ms: int) -> None:
        self._tx, self._tenant_id, self._now_ms = tx, tenant_id, now_ms

    def lookup(self, scope: str, key: str) -> StoredResponse | None:
        row = self._tx.one("SELECT fingerprint, ack FROM idempotency_keys WHERE tenant_id = ? "
                           "AND store_id = ? AND key = ?", (self._tenant_id, scope, key))
        return StoredResponse(bytes(row[0]), 200, bytes(row[1])) if row else None

    def save(self, scope: str, key: str, response: StoredResponse) -> None:
        assert response.status == 200, response.status
        self._tx.rows("INSERT INTO idempotency_keys (tenant_id, store_id, key, fingerprint, "
                      "ack, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                      (self._tenant_id, scope, key, response.fingerprint, response.body,
                       self._now_ms))


class Ingest(Backend):
    def ingest(self, batch: Batch, fingerprint: bytes, now_ms: int,
               acked_through: int | None = None) -> BatchAck:
        """Store the new tail of an already checked batch (`batch.check_batch`) in one
        transaction and return the ack, at most once per batch id (`core.idempotency`): a
        completed key replays its first ack with `stored=0`, other bytes under it are refused
        (422), and a key another request holds is in flight (409)."""
        reasons = [batch_mod.quarantine_reason(ev) for ev in batch.events]
        with self._write_holding(f"{batch.tenant_id}/{batch.store_id}", batch.batch_id) as tx:
            outcome = idempotency.once(
                AckKeys(tx, batch.tenant_id, now_ms), batch.store_id, batch.batch_id, fingerprint,
                lambda: Answer(200, _ack_encoder.encode(
                    self._store_tail(tx, batch, reasons, fingerprint, now_ms, acked_through))))
        ack = _ack_decoder.decode(outcome.response.body)
        return msgspec.structs.replace(ack, stored=0) if isinstance(outcome, Replayed) else ack

    def _store_tail(self, tx: Tx, batch: Batch, reasons: list[str | None], fingerprint: bytes,
                    now_ms: int, acked_through: int | None) -> BatchAck:
        """The effect of a batch not seen before under its key: the events the ledger lacks,
        the store's new watermark; the ack for them."""
        tenant, store = batch.tenant_id, batch.store_id
        state = tx.one("SELECT high_seq, last_hash FROM stores WHERE tenant_id = ? AND "
                       "store_id = ?" + self.FOR_UPDATE, (tenant, store))
        if state is None:
            raise refuse("store_mismatch", f"store {store} is not enrolled for tenant {tenant}")
        high, last_hash = state[0], bytes(state[1])

        def hash_at(seq: int) -> bytes | None:
            if seq == high:
                return last_hash
            row = tx.one("SELECT hash FROM events WHERE tenant_id = ? AND store_id = ? AND "
                         "seq = ?", (tenant, store, seq))
            return bytes(row[0]) if row else None

        start = batch_mod.plan_tail(batch, high, hash_at, acked_through)
        tail = batch.events[start:]
        quarantined = [QuarantinedEvent(ev.seq, ev.event_id, reason)
                       for ev, reason in zip(tail, reasons[start:]) if reason is not None]
        if tail:
            base = self._reserve_ledger(tx, tenant, len(tail))
            self._insert_events(tx, [
                (store, ev.seq, tenant, base + i, ev.event_id, ev.lane_id, ev.stream, ev.type,
                 ev.schema_version, ev.recorded_at_ms, ev.business_date, ev.body,
                 ev.prev_hash, ev.hash, now_ms, reason)
                for i, (ev, reason) in enumerate(zip(tail, reasons[start:]))
            ])
            high, last_hash = tail[-1].seq, tail[-1].hash
        tx.rows("UPDATE stores SET high_seq = ?, last_hash = ?, last_seen_ms = ? "
                "WHERE tenant_id = ? AND store_id = ?", (high, last_hash, now_ms, tenant, store))
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
                "WHERE tenant_id = ? AND store_id = ? "
                "RETURNING high_seq, last_hash, last_seen_ms, applied_change_id",
                (now_ms, head_seq, applied_change_id, tenant_id, store_id))
        if row is None:
            raise NotFound(f"store {store_id} is not enrolled")
        return StoreWatermark(tenant_id=tenant_id, store_id=store_id, high_seq=row[0],
                              last_hash_hex=bytes(row[1]).hex(), relay_epoch=self.epoch,
                              last_seen_ms=row[2], applied_catalog_change_id=row[3])
