"""The store's upload side: ingesting batches and the watermark the edge resumes from.

Invariants:
- A batch is acknowledged only after the write transaction holding its events, the store's
  new watermark and its stored ack has committed; a refused batch writes nothing.
- At most once per batch id (`core.idempotency`'s rules over the `idempotency_keys` table): a
  completed key replays its first ack, other bytes under it are refused, a key held by a
  running request is in flight. The key table only replays acks: `PRIMARY KEY (tenant_id,
  store_id, seq)` and `UNIQUE (tenant_id, event_id)` are what make dedupe permanent, so a
  batch resent after its key was pruned stores nothing twice.
- A store is (tenant_id, store_id) in every statement: two tenants' `store-001` never meet.
- `ledger_seq` is gapless and in commit order per tenant: numbers come from the tenant's
  counter row, updated inside the writing transaction, whose row lock is held until commit, so
  a transaction that takes numbers after another commits after it, and a reader paging
  `ledger_seq > cursor` can never skip a row committed late.

Group commit. The counter row is the one serial step of a tenant's ingest, so it is taken once
per group of batches, not once per batch: in each relay process a tenant's concurrent uploads
queue (`_Sequencer`), and whichever request finds no transaction of that tenant running takes
the queue in arrival order (one batch per store, at most `GROUP_MAX_BATCHES` batches and
`GROUP_MAX_EVENTS` events) and stores the group in one transaction: every batch is checked on
its own (key, chain, watermark), refusals stay that batch's, and the accepted ones share one
counter update, one COPY and one commit. The counter is updated last, after the stores' rows
and the acks are written, so its lock is held only for the group's event insert and the
commit. Stores' rows are locked in store order and the counter after them: two relay processes
committing groups never deadlock. If a group fails for any reason but an unreachable database,
each of its batches is retried alone, so one bad batch (a constraint it violates) fails only
itself.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from cloud_relay import batch as batch_mod
from cloud_relay.errors import Refused, refuse
from cloud_relay.storage.backend import Backend, Tx
from core import idempotency
from core.errors import DomainError, IdempotencyKeyInFlight, NotFound
from core.idempotency import StoredResponse
from schemas.sync import Batch, BatchAck, QuarantinedEvent, StoreWatermark

# A group's bounds: the counter lock is held for the group's insert, so a group stays a few
# tens of milliseconds of work and a store's ack waits for at most one group ahead of its own.
GROUP_MAX_BATCHES = 200
GROUP_MAX_EVENTS = 20_000

_ack_encoder = msgspec.msgpack.Encoder()
_astuple = msgspec.structs.astuple
_ack_decoder = msgspec.msgpack.Decoder(BatchAck)
_state_lock = threading.Lock()


@dataclass(eq=False, slots=True)
class _Pending:
    """One upload waiting in its tenant's queue, and what its group answered."""

    batch: Batch
    fingerprint: bytes
    now_ms: int
    acked_through: int | None
    reasons: list[str | None]
    done: bool = False
    ack: BatchAck | None = None
    error: BaseException | None = None

    @property
    def scope(self) -> str:
        return f"{self.batch.tenant_id}/{self.batch.store_id}"


class _Sequencer:
    """A tenant's uploads in this process waiting for its next ledger transaction, and whether
    a request thread is running one (that thread stores the group; the others wait)."""

    __slots__ = ("cond", "waiting", "running")

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.waiting: list[_Pending] = []
        self.running = False

    def take(self) -> list[_Pending]:
        """The next group, in arrival order; a store's later batch waits for the next group
        (it must see the watermark the earlier one leaves). Called holding `cond`."""
        group: list[_Pending] = []
        rest: list[_Pending] = []
        stores: set[str] = set()
        events = 0
        for p in self.waiting:
            n = len(p.batch.events)
            if (p.batch.store_id in stores or len(group) >= GROUP_MAX_BATCHES
                    or (group and events + n > GROUP_MAX_EVENTS)):
                rest.append(p)
                continue
            group.append(p)
            stores.add(p.batch.store_id)
            events += n
        self.waiting = rest
        return group


class Ingest(Backend):
    def ingest(self, batch: Batch, fingerprint: bytes, now_ms: int,
               acked_through: int | None = None) -> BatchAck:
        """Store the new tail of an already checked batch (`batch.check_batch`) and return the
        ack once it is committed, at most once per batch id (`core.idempotency`): a completed
        key replays its first ack with `stored=0`, other bytes under it are refused (422), and
        a key another request holds is in flight (409). Concurrent calls for one tenant share
        transactions (see the module docstring)."""
        p = _Pending(batch, fingerprint, now_ms, acked_through,
                     [batch_mod.quarantine_reason(ev) for ev in batch.events])
        with self._hold_local(p.scope, batch.batch_id):
            seq = self._sequencer(batch.tenant_id)
            with seq.cond:
                seq.waiting.append(p)
                while not p.done:
                    if seq.running:
                        seq.cond.wait()
                        continue
                    seq.running = True
                    group = seq.take()
                    seq.cond.release()
                    try:
                        self._commit_group(group)
                    finally:
                        seq.cond.acquire()
                        seq.running = False
                        seq.cond.notify_all()
        if p.error is not None:
            raise p.error
        assert p.ack is not None
        return p.ack

    def _sequencer(self, tenant_id: str) -> _Sequencer:
        table: dict[str, _Sequencer] | None = getattr(self, "_sequencers", None)
        if table is None or tenant_id not in table:
            with _state_lock:
                table = self.__dict__.setdefault("_sequencers", {})
                table.setdefault(tenant_id, _Sequencer())
        return table[tenant_id]

    def _commit_group(self, group: list[_Pending]) -> None:
        """Store `group`, setting each upload's ack or error; never raises."""
        try:
            try:
                self._store_group(group)
            except self.UNAVAILABLE as exc:  # every batch would fail the same way: say so
                for p in group:
                    p.error = exc
            except BaseException as exc:
                if len(group) == 1:
                    group[0].error = exc
                else:
                    for p in group:
                        try:
                            self._store_group([p])
                        except BaseException as alone:  # noqa: BLE001 - that batch's answer
                            p.error = alone
        finally:
            for p in group:
                if p.ack is None and p.error is None:
                    p.error = RuntimeError("the batch's group ended without an answer")
                p.done = True

    def _store_group(self, group: list[_Pending]) -> None:
        """One transaction for `group` (one batch per store, all of one tenant). Answers are
        given to the uploads only after it committed."""
        tenant = group[0].batch.tenant_id
        answers: list[tuple[_Pending, BatchAck | None, BaseException | None]] = []
        with self._write() as tx:
            claimed = self._claim_keys(tx, [(p.scope, p.batch.batch_id) for p in group])
            live = []
            for p, got in zip(group, claimed):
                if got:
                    live.append(p)
                else:
                    answers.append((p, None, _in_flight(p.batch.batch_id)))
            stored = tx.each("SELECT fingerprint, ack FROM idempotency_keys WHERE tenant_id = ? "
                             "AND store_id = ? AND key = ?",
                             [(tenant, p.batch.store_id, p.batch.batch_id) for p in live])
            fresh = []
            for p, row in zip(live, stored):
                try:
                    known = idempotency.replay(
                        None if row is None else StoredResponse(bytes(row[0]), 200,
                                                                bytes(row[1])), p.fingerprint)
                except DomainError as exc:  # the key was used for other bytes
                    answers.append((p, None, exc))
                    continue
                if known is not None:
                    ack = _ack_decoder.decode(known.response.body)
                    answers.append((p, msgspec.structs.replace(ack, stored=0), None))
                else:
                    fresh.append(p)
            # Locked in store order (the statements run in this order): no deadlock between
            # two processes' groups.
            fresh.sort(key=lambda p: p.batch.store_id)
            states = tx.each("SELECT high_seq, last_hash FROM stores WHERE tenant_id = ? AND "
                             "store_id = ?" + self.FOR_UPDATE,
                             [(tenant, p.batch.store_id) for p in fresh])
            accepted: list[tuple[_Pending, int, BatchAck]] = []
            for p, state in zip(fresh, states):
                try:
                    start, ack = self._plan(tx, p, state)
                except Refused as exc:
                    answers.append((p, None, exc))
                    continue
                accepted.append((p, start, ack))
            if accepted:
                self._write_accepted(tx, tenant, accepted)
            answers.extend((p, ack, None) for p, _, ack in accepted)
        for p, ack, error in answers:
            p.ack, p.error = ack, error

    def _plan(self, tx: Tx, p: _Pending, state: tuple | None) -> tuple[int, BatchAck]:
        """Where the batch's new tail starts (`batch.plan_tail`) and the ack storing it gives."""
        batch = p.batch
        tenant, store = batch.tenant_id, batch.store_id
        if state is None:
            raise refuse("store_mismatch", f"store {store} is not enrolled for tenant {tenant}")
        high, last_hash = state[0], bytes(state[1])

        def hash_at(seq: int) -> bytes | None:
            if seq == high:
                return last_hash
            row = tx.one("SELECT hash FROM events WHERE tenant_id = ? AND store_id = ? AND "
                         "seq = ?", (tenant, store, seq))
            return bytes(row[0]) if row else None

        start = batch_mod.plan_tail(batch, high, hash_at, p.acked_through)
        tail = batch.events[start:]
        if tail:
            high, last_hash = tail[-1].seq, tail[-1].hash
        quarantined = [QuarantinedEvent(ev.seq, ev.event_id, reason)
                       for ev, reason in zip(tail, p.reasons[start:]) if reason is not None]
        return start, BatchAck(batch_id=batch.batch_id, accepted_through_seq=high,
                               last_hash_hex=last_hash.hex(), stored=len(tail),
                               quarantined=quarantined, relay_epoch=self.epoch,
                               fingerprint_hex=p.fingerprint.hex())

    def _write_accepted(self, tx: Tx, tenant: str,
                        accepted: Sequence[tuple[_Pending, int, BatchAck]]) -> None:
        """The accepted batches' effects: watermarks and acks first, then the ledger numbers
        and the events (the counter's lock is held from there to the commit)."""
        tx.many("UPDATE stores SET high_seq = ?, last_hash = ?, last_seen_ms = ? "
                "WHERE tenant_id = ? AND store_id = ?",
                [(ack.accepted_through_seq, bytes.fromhex(ack.last_hash_hex), p.now_ms, tenant,
                  p.batch.store_id) for p, _, ack in accepted])
        tx.many("INSERT INTO idempotency_keys (tenant_id, store_id, key, fingerprint, ack, "
                "created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                [(tenant, p.batch.store_id, p.batch.batch_id, p.fingerprint,
                  _ack_encoder.encode(ack), p.now_ms) for p, _, ack in accepted])
        count = sum(ack.stored for _, _, ack in accepted)
        if not count:
            return
        ledger_seq = self._reserve_ledger(tx, tenant, count)
        rows = []
        for p, start, _ in accepted:
            # `INSERT_COLUMNS` order: the event's own fields as they are (its tenant and store
            # ids are the batch's, `batch.check_batch` made sure), then the ledger's.
            now_ms = p.now_ms
            rows.extend((*_astuple(ev), seq, now_ms, reason) for ev, reason, seq in zip(
                p.batch.events[start:], p.reasons[start:],
                range(ledger_seq, ledger_seq + len(p.batch.events) - start)))
            ledger_seq += len(p.batch.events) - start
        self._insert_events(tx, rows)

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


def _in_flight(key: str) -> DomainError:
    return IdempotencyKeyInFlight(f"batch {key} is being stored by another request; retry "
                                  "shortly")
