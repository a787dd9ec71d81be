"""`sync_status()`: the store's sync state as one `schemas.sync_status.SyncStatus`, read from
the store database on a connection the caller gives (so the CLI can report it with or without
a running daemon) plus, inside the daemon, the live engine's backoff timer; and the readiness
check that reports a break of the store's own log (`chain_check`)."""

from __future__ import annotations

import time
from pathlib import Path

import apsw

from schemas.sync_status import SyncAlarmView, SyncStatus
from sync import cursor, downsync, outbox
from sync.engine import SyncEngine, resolve
from sync.settings import SyncConfig


def sync_status(conn: apsw.Connection, data_dir: Path, s: SyncConfig, store_id: str,
                engine: SyncEngine | None = None, now_ms: int | None = None) -> SyncStatus:
    state = cursor.load(conn)
    head = outbox.head_seq(conn)
    alarms = cursor.alarms(conn, limit=20)
    broken = cursor.open_chain_break(conn)
    open_alarms = conn.execute(
        "SELECT count(*) FROM sync_alarms WHERE cleared_at_ms IS NULL").fetchall()[0][0]
    rejected = conn.execute(
        "SELECT count(*) FROM sync_inbox WHERE status = 'rejected'").fetchall()[0][0]
    quarantined = conn.execute("SELECT count(*) FROM sync_quarantined").fetchall()[0][0]
    held = downsync.held_kinds(conn)
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    next_in = None
    if engine is not None and engine.next_attempt_at is not None:
        next_in = max(0.0, engine.next_attempt_at - time.monotonic())
    frozen = (f"{store_id}:{state.frozen_first_seq}-{state.frozen_last_seq}"
              if state.frozen_first_seq is not None else None)
    return SyncStatus(
        configured=bool(s.relay_url) and resolve(data_dir, s.credential_file).exists(),
        relay_url=s.relay_url, store_id=store_id, head_seq=head,
        acked_seq=state.acked_seq, lag_events=head - state.acked_seq, frozen_batch=frozen,
        relay_high_seq=state.relay_high_seq, relay_epoch=state.relay_epoch,
        relay_seen_at_ms=state.relay_seen_at_ms, last_success_at_ms=state.last_success_at_ms,
        last_success_age_s=(None if state.last_success_at_ms is None
                            else max(0.0, (now - state.last_success_at_ms) / 1000)),
        consecutive_failures=state.failures, last_error=state.last_error,
        last_error_at_ms=state.last_error_at_ms, next_attempt_in_s=next_in,
        applied_change_id=state.down_after, changes_rejected=rejected,
        quarantined_events=quarantined, open_alarms=open_alarms,
        alarms=[SyncAlarmView(a.reason, a.detail, a.seq, a.raised_at_ms, a.last_seen_at_ms,
                              a.count, a.cleared_at_ms is None) for a in alarms],
        chain_broken_at_seq=broken.seq if broken is not None else None,
        changes_held=sum(n for n, _first in held.values()), held_change_kinds=list(held),
    )


def chain_check(conn: apsw.Connection) -> str:
    """The store's readiness check `event_chain`: "ok", or where its own log fails its hash
    chain as the sync engine found it (an advisory check: the store keeps selling)."""
    broken = cursor.open_chain_break(conn)
    return "ok" if broken is None else f"broken at seq {broken.seq}: {broken.detail}"
