"""The sync engine: the daemon's background task that uploads the log and applies down-sync.

One round: (1) on (re)connect, ask the relay's watermark and align the cursor to it; (2) send
batches back to back until the relay holds the whole log; (3) when due, pull and apply
change sets. A round that fails waits `backoff.delay_s` (full jitter, capped) on a timer and
tries again; a round that succeeds resets the backoff and the next round comes after
`poll_interval_s` (or at once on `wake()`, e.g. `novapos-edge sync now`).

Why a sale never waits for sync: reads (batches, state) go through the engine's own read-only
connection, in a worker thread (the next batch is encoded while the current one is on the
wire); HTTP runs on the loop without holding anything; the only write per batch is one small
writer command: its ack row, the cursor, and the next batch's frozen range.

Refusals (see docs/sync.md): "gap" and "relay_behind" raise an alarm and rewind the cursor to
the relay's `expected_seq`, then carry on at once; "chain_mismatch", "bad_fingerprint",
"store_mismatch" and "malformed" raise an alarm and are retried with backoff (the alarm stays
open, visible in metrics, `sync status` and the log, while sales go on); any ack clears alarms.

A break in the store's own log (`outbox.ChainBreak`: an event whose hash does not recompute or
does not link) is found before sending: the events before it upload, the engine raises the
alarm `chain_broken` naming the seq and sends nothing from there on; down-sync goes on, and so
do sales. Only an ack of that seq (a repaired log) clears it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw
import msgspec
import structlog

from core.backoff import BackoffPolicy, BackoffState, delay_s, with_retry_after
from core.signing import StoreCredential
from schemas.sync import MAX_DOWN_CHANGES
from sync import cursor, downsync, outbox
from sync.client import Acked, Failed, Refused, RelayClient, RelayRequestError, RetryLater
from sync.metrics import SyncMetrics
from sync.port import StorePort
from sync.settings import SyncConfig

if TYPE_CHECKING:
    import httpx

log = structlog.get_logger("novapos.sync")

# Rewinds in one round before the engine backs off: a relay that keeps moving its watermark
# back must not spin the engine.
MAX_REWINDS_PER_ROUND = 3


class RoundFailed(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def load_credential(path: Path) -> StoreCredential:
    return msgspec.json.decode(path.read_bytes(), type=StoreCredential)


def resolve(data_dir: Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else data_dir / p


class SyncEngine:
    def __init__(
        self, *, store: StorePort, settings: SyncConfig, credential: StoreCredential,
        metrics: SyncMetrics, relay_url: str | None = None, ca_file: str | None = None,
        rng: random.Random | None = None, transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        tenant_id, store_id = store.tenant_id, store.store_id
        if (credential.tenant_id, credential.store_id) != (tenant_id, store_id):
            raise ValueError(f"the sync credential is for {credential.tenant_id}/"
                             f"{credential.store_id}, this store is {tenant_id}/{store_id}")
        self.store = store
        self.tenant_id, self.store_id = tenant_id, store_id
        self.appliers = {**downsync.APPLIERS, **store.appliers}
        self.settings = settings
        self.metrics = metrics
        self.policy = BackoffPolicy(settings.backoff_base_s, settings.backoff_cap_s)
        self.rng = rng or random.Random()
        self.relay_url = relay_url or settings.relay_url
        self.client = RelayClient(self.relay_url, credential,
                                  timeout_s=settings.request_timeout_s, ca_file=ca_file,
                                  transport=transport)
        self.backoff = BackoffState()
        self.next_attempt_at: float | None = None  # monotonic
        self.connected = False
        self.relay_epoch = ""
        self.rounds = 0
        self._frozen: outbox.FrozenBatch | None = None
        self._reader: apsw.Connection | None = None
        self._wake = asyncio.Event()
        self._down_due_at = 0.0
        self._open_alarms: set[str] = set()
        self._broken_at: int | None = None  # seq of the store's own chain break, once found
        self._held_checked = False  # the held-changes alarm matched to the table since start
        self.last_success_monotonic: float | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def wake(self) -> None:
        """Run a round now (and pull down-sync changes), whatever the timer says."""
        self._down_due_at = 0.0
        self.next_attempt_at = None
        self._wake.set()

    async def run(self) -> None:
        """The background task: rounds until cancelled."""
        try:
            while True:
                # Cleared before the round, so a wake-up that arrives during it is not lost.
                self._wake.clear()
                try:
                    wait_s = await self.round()
                except Exception as exc:  # the task must outlive any bug or outage
                    # E.g. the store writer stopped: back off in memory and try again; a sync
                    # task that died silently would be the wedged queue users complain about.
                    log.exception("sync round crashed", error=str(exc))
                    self.connected = False
                    self.backoff = self.backoff.failed()
                    wait_s = max(self.settings.backoff_base_s, delay_s(
                        self.backoff.failures, self.policy, self.rng.random()))
                await self._sleep(wait_s)
        finally:
            await self.close()

    async def _sleep(self, wait_s: float) -> None:
        """Wait `wait_s` or until `wake()`. Not `asyncio.wait_for`: on Python 3.11 it can
        swallow a cancellation that races the wake-up, and the task would never stop."""
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({waiter}, timeout=wait_s)
        finally:
            waiter.cancel()

    async def close(self) -> None:
        await self.client.aclose()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def read(self, fn: Callable[[apsw.Connection], Any]) -> Any:
        """Reads happen off the loop, on the engine's own connection (one at a time)."""
        if self._reader is None:
            self._reader = self.store.open_reader()
        return await asyncio.to_thread(fn, self._reader)

    # --- one round -----------------------------------------------------------------------

    async def round(self) -> float:
        """One attempt; returns the seconds to wait before the next."""
        self.rounds += 1
        try:
            if not self.connected:
                await self._connect()
            await self._upload()
            if time.monotonic() >= self._down_due_at:
                await self._downsync()
                self._down_due_at = time.monotonic() + self.settings.downsync_interval_s
        except RoundFailed as exc:
            return await self._failed(str(exc), exc.retry_after_s)
        except RelayRequestError as exc:
            if exc.alarm:
                await self._alarm("unauthorized", str(exc), None)
            return await self._failed(str(exc), exc.retry_after_s)
        self.last_success_monotonic = time.monotonic()
        self.metrics.last_success_s.set(time.time())
        if self.backoff.failures:
            self.backoff = self.backoff.succeeded()
            await self.store.write(lambda tx: cursor.record_contact(tx.conn, tx.now_ms))
        self.metrics.backoff_s.set(0)
        self.next_attempt_at = time.monotonic() + self.settings.poll_interval_s
        return self.settings.poll_interval_s

    async def _failed(self, error: str, retry_after_s: float | None) -> float:
        self.connected = False  # ask the watermark again: it is the single truth
        self.backoff = self.backoff.failed()
        wait_s = with_retry_after(delay_s(self.backoff.failures, self.policy, self.rng.random()),
                                  retry_after_s)
        failures = self.backoff.failures
        await self.store.write(lambda tx: cursor.record_failure(
            tx.conn, error=error, failures=failures, now_ms=tx.now_ms))
        self.metrics.failures.inc()
        self.metrics.backoff_s.set(wait_s)
        self.next_attempt_at = time.monotonic() + wait_s
        log.warning("sync round failed", error=error, failures=failures,
                    retry_in_s=round(wait_s, 3))
        return wait_s

    async def _connect(self) -> None:
        head, state = await self.read(lambda c: (outbox.head_seq(c), cursor.load(c)))
        wm = await self.client.watermark(head, state.down_after)
        try:
            high_hash = bytes.fromhex(wm.last_hash_hex)
        except ValueError as exc:
            raise RoundFailed(f"relay watermark carries a bad hash: {wm.last_hash_hex!r}") from exc
        local = await self.read(lambda c: outbox.hash_at(c, wm.high_seq))
        outcome = await self.store.write(lambda tx: cursor.adopt_watermark(
            tx.conn, high_seq=wm.high_seq, high_hash=high_hash, relay_epoch=wm.relay_epoch,
            local_hash=local, now_ms=tx.now_ms))
        if outcome == "back":
            await self._alarm("relay_behind", f"the relay holds seq 1-{wm.high_seq}, less than "
                              f"the store had acks for ({state.acked_seq}); resending from "
                              f"{wm.high_seq + 1}", wm.high_seq + 1)
        elif outcome == "diverged":
            what = ("is ahead of this store's log" if local is None
                    else "has another hash than this store's log")
            await self._alarm("chain_mismatch", f"the relay's event {wm.high_seq} {what}",
                              wm.high_seq)
        if outcome != "same":
            log.info("sync cursor aligned to the relay watermark", outcome=outcome,
                     relay_high_seq=wm.high_seq, acked_seq_before=state.acked_seq)
        self.relay_epoch = wm.relay_epoch
        self.connected = True

    async def _batch(self) -> outbox.FrozenBatch | None:
        """The batch in flight (same bytes on every retry), else a new one, frozen first; None
        when nothing can be sent (all acked, or the log breaks right after the cursor)."""
        s = self.settings

        def build(conn: apsw.Connection) -> tuple[
                cursor.CursorState, outbox.FrozenBatch | outbox.ChainBreak | None, int]:
            state = cursor.load(conn)
            head = outbox.head_seq(conn)
            cached = self._frozen
            if state.frozen_first_seq is not None and state.frozen_last_seq is not None:
                if cached is not None and (cached.first_seq, cached.last_seq) == (
                        state.frozen_first_seq, state.frozen_last_seq):
                    return state, cached, head
                return state, outbox.rebuild(conn, self.tenant_id, self.store_id,
                                             state.frozen_first_seq, state.frozen_last_seq,
                                             prev_hash=state.acked_hash), head
            return state, outbox.next_batch(conn, self.tenant_id, self.store_id,
                                            state.acked_seq, max_events=s.max_batch_events,
                                            max_bytes=s.max_batch_bytes,
                                            prev_hash=state.acked_hash), head

        state, frozen, head = await self.read(build)
        self.metrics.lag_events.set(head - state.acked_seq)
        self.metrics.outbox_events.set(head - (frozen.last_seq if isinstance(
            frozen, outbox.FrozenBatch) else state.acked_seq))
        self.metrics.acked_seq.set(state.acked_seq)
        if isinstance(frozen, outbox.ChainBreak):
            self._frozen = None
            if state.frozen_first_seq is not None:
                # The frozen range no longer verifies: it can never be sent as frozen. Cut a
                # new batch before the break (its events were never acked, so nothing is lost).
                await self.store.write(lambda tx: cursor.unfreeze(tx.conn))
                return await self._batch()
            await self._chain_broken(frozen)
            return None
        if frozen is None:
            self._frozen = None
            return None
        if state.frozen_first_seq is None:
            await self.store.write(lambda tx: cursor.freeze(tx.conn, frozen))
        elif frozen.fingerprint != state.frozen_fingerprint:
            # Events are immutable, so this means the log itself changed under us.
            await self._alarm("frozen_batch_changed", f"batch {frozen.batch_id} rebuilt with "
                              "other bytes than when it was frozen", frozen.first_seq)
        self._frozen = frozen
        return frozen

    def _next_after(self, frozen: outbox.FrozenBatch) -> Callable[[apsw.Connection], Any]:
        s = self.settings

        def build(conn: apsw.Connection) -> tuple[outbox.FrozenBatch | outbox.ChainBreak | None,
                                                  int]:
            return (outbox.next_batch(conn, self.tenant_id, self.store_id, frozen.last_seq,
                                      max_events=s.max_batch_events, max_bytes=s.max_batch_bytes,
                                      prev_hash=frozen.last_hash), outbox.head_seq(conn))
        return build

    async def _upload(self) -> None:
        rewinds = 0
        frozen = await self._batch()
        while frozen is not None:
            # While this batch is on the wire, the next one is read and encoded (off the loop):
            # a backlog drains at the pace of the relay, not of relay + encoding.
            prefetch = asyncio.ensure_future(self.read(self._next_after(frozen)))
            try:
                self.metrics.batches_sent.inc()
                self.metrics.bytes_sent.inc(len(frozen.body))
                result = await self.client.send_batch(frozen, frozen.first_seq - 1)
                nxt, head = await prefetch
            finally:
                if not prefetch.done():
                    await asyncio.wait({prefetch})
            if isinstance(result, Acked):
                if not cursor.ack_matches(frozen, result.ack):
                    a = result.ack
                    await self._alarm("ack_mismatch", f"ack {a.batch_id}@{a.accepted_through_seq}"
                                      f" does not match batch {frozen.batch_id}", frozen.first_seq)
                    raise RoundFailed(f"ack does not match batch {frozen.batch_id}")

                def complete(tx, f=frozen, a=result.ack, n=nxt) -> None:
                    # One small command: the ack and its cursor move, and the next batch frozen.
                    cursor.record_ack(tx.conn, f, a, tx.now_ms)
                    if isinstance(n, outbox.FrozenBatch):
                        cursor.freeze(tx.conn, n)
                await self.store.write(complete)
                self._acked(frozen, result.ack, head)
                if isinstance(nxt, outbox.ChainBreak):
                    self._frozen = None
                    await self._chain_broken(nxt)
                    return
                self._frozen = frozen = nxt
                continue
            if isinstance(result, Refused):
                r = result.refusal
                self.metrics.batches_refused.labels(r.reason).inc()
                await self._alarm(r.reason, f"batch {frozen.batch_id}: {r.detail}",
                                  r.expected_seq or frozen.first_seq)
                if r.reason in ("gap", "relay_behind") and r.expected_seq is not None:
                    rewinds += 1
                    if rewinds > MAX_REWINDS_PER_ROUND:
                        raise RoundFailed(f"relay moved its watermark back {rewinds} times")
                    await self._rewind(r.expected_seq - 1)
                    frozen = await self._batch()
                    continue
                raise RoundFailed(f"batch {frozen.batch_id} refused ({r.reason}): {r.detail}")
            if isinstance(result, RetryLater):
                raise RoundFailed(result.error, result.retry_after_s)
            assert isinstance(result, Failed)
            if result.status in (401, 403):
                await self._alarm("unauthorized", result.error, frozen.first_seq)
            raise RoundFailed(result.error)

    def _acked(self, frozen: outbox.FrozenBatch, ack, head: int) -> None:
        m = self.metrics
        m.batches_acked.inc()
        m.events_acked.inc(frozen.events)
        m.acked_seq.set(frozen.last_seq)
        m.lag_events.set(max(0, head - frozen.last_seq))
        if ack.quarantined:
            log.warning("relay quarantined events", batch_id=frozen.batch_id,
                        seqs=[q.seq for q in ack.quarantined])
        # As `cursor.clear_alarms`: a break of the store's log after this batch stays open.
        cleared = {r for r in self._open_alarms if r not in cursor.NOT_CLEARED_BY_UPLOAD
                   and (r != cursor.CHAIN_BROKEN or (self._broken_at or 0) <= frozen.last_seq)}
        if cleared:
            for reason in cleared:
                m.alarm.labels(reason).set(0)
            self._open_alarms -= cleared
            log.info("sync alarms cleared by an accepted batch", batch_id=frozen.batch_id)

    async def _chain_broken(self, brk: outbox.ChainBreak) -> None:
        self._broken_at = brk.seq
        await self._alarm(cursor.CHAIN_BROKEN, f"event {brk.seq} of the store's log "
                          f"{brk.reason}: events before it are uploaded, nothing from seq "
                          f"{brk.seq} on is sent until the log is repaired", brk.seq)

    async def _rewind(self, to_seq: int) -> None:
        digest = await self.read(lambda c: outbox.hash_at(c, to_seq))
        if digest is None:
            raise RoundFailed(f"relay asks to resend from {to_seq + 1}, past this store's log")
        epoch = self.relay_epoch
        await self.store.write(lambda tx: cursor.rewind(tx.conn, to_seq=to_seq, to_hash=digest,
                                                       relay_epoch=epoch, now_ms=tx.now_ms))
        self._frozen = None
        log.warning("sync cursor rewound at the relay's request", resend_from=to_seq + 1)

    async def _downsync(self) -> None:
        await self._held()
        while True:
            state = await self.read(cursor.load)
            change_set = await self.client.changes(state.down_after, MAX_DOWN_CHANGES)
            if not change_set.changes and change_set.next_after <= state.down_after:
                return
            result = await self.store.write(lambda tx, cs=change_set: downsync.apply_change_set(
                tx, cs.changes, self.appliers, next_after=cs.next_after))
            await self._tally(result)
            if result.held:
                # Counted once per change set that brought new ones, never per round.
                held = await self.read(downsync.held_kinds)
                await self._alarm(cursor.CHANGE_KIND_UNKNOWN, downsync.held_summary(held), None)
            if result.applied or result.rejected or result.held:
                log.info("down-sync applied", applied=len(result.applied),
                         rejected=len(result.rejected), held=len(result.held),
                         events=result.events, down_after=result.down_after)
                head = await self.read(outbox.head_seq)
                # Report the applied change id upstream (HQ shows the store's catalog state).
                await self.client.watermark(head, result.down_after)
            if not change_set.more:
                return

    async def _tally(self, result: downsync.AppliedSet) -> None:
        for _cid, kind in result.applied:
            self.metrics.changes_applied.labels(kind, "applied").inc()
        for cid, kind, why in result.rejected:
            self.metrics.changes_applied.labels(kind, "rejected").inc()
            await self._alarm("change_rejected", f"change {cid} ({kind}): {why}", None)
        for cid, kind in result.held:
            self.metrics.changes_applied.labels(kind, "held").inc()
            log.warning("down-sync change of an unknown kind held", change_id=cid, kind=kind)

    async def _held(self) -> None:
        """Held changes (kinds this release did not know): applied, in change id order, before
        any newer change once an applier knows their kind (the store was upgraded); and the
        alarm `change_kind_unknown` kept to what is still held, also after a restart (its count
        is not bumped by that)."""
        held = await self.read(downsync.held_kinds)
        changed = False
        if any(kind in self.appliers for kind in held):
            result = await self.store.write(
                lambda tx: downsync.apply_change_set(tx, [], self.appliers))
            await self._tally(result)
            log.info("held down-sync changes applied by this release",
                     kinds=sorted({k for _c, k in result.released}),
                     applied=len(result.applied), rejected=len(result.rejected))
            held = await self.read(downsync.held_kinds)
            changed = True
        if self._held_checked and not changed:
            return
        self._held_checked = True
        reason = cursor.CHANGE_KIND_UNKNOWN
        if not held and not changed and not await self.read(lambda c: cursor.alarms(
                c, open_only=True, reason=reason, limit=1)):
            return  # nothing held, no alarm: the common start, no write
        detail = downsync.held_summary(held) if held else None
        new = await self.store.write(
            lambda tx: cursor.keep_alarm(tx.conn, reason, detail, tx.now_ms))
        if held:
            self._open_alarms.add(reason)
            self.metrics.alarm.labels(reason).set(1)
            if new:
                log.error("sync alarm", reason=reason, detail=detail, seq=None)
        elif reason in self._open_alarms or changed:
            self._open_alarms.discard(reason)
            self.metrics.alarm.labels(reason).set(0)

    # --- alarms and gauges ---------------------------------------------------------------

    async def _alarm(self, reason: str, detail: str, seq: int | None) -> None:
        new = await self.store.write(
            lambda tx: cursor.raise_alarm(tx.conn, reason, detail, seq, tx.now_ms))
        self._open_alarms.add(reason)
        self.metrics.alarm.labels(reason).set(1)
        if new:
            log.error("sync alarm", reason=reason, detail=detail, seq=seq)
