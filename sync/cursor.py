"""The upload cursor and everything else sync persists (migration 6): primary state, not a
projection, written only through the store's one Writer (`await writer.run(fn)`), each in a
small command that never appends an event.

Rules (the reasons are the failures other sync systems shipped):
- `acked_seq` moves forward only in `record_ack`, which inserts the ack row in the same
  transaction, and only for an ack whose batch id, `accepted_through_seq` and last hash match
  the frozen batch (`ack_matches`). A failed or mismatching answer never completes a batch.
- The relay's watermark is the single truth: `adopt_watermark` moves the cursor forward to it
  when the relay holds more than we have acks for *and* its hash at that seq equals ours
  (a lost ack), and back to it when the relay has less (restored from a backup).
- `rewind` moves the cursor back to what the relay asks for (`expected_seq - 1`).
- Alarms are rows: raised (or re-counted while open) by reason, cleared by the next ack;
  except `chain_broken` (the store's own log fails its chain at a seq), which only an ack of
  that seq clears: the events after a break are never sent, so no later ack proves it gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from schemas.sync import BatchAck
from sync.outbox import FrozenBatch

_STATE_COLUMNS = (
    "acked_seq, acked_hash, acked_at_ms, frozen_first_seq, frozen_last_seq, frozen_fingerprint, "
    "relay_high_seq, relay_epoch, relay_seen_at_ms, down_after, failures, last_error, "
    "last_error_at_ms, last_success_at_ms"
)


@dataclass(frozen=True, slots=True)
class CursorState:
    acked_seq: int
    acked_hash: bytes
    acked_at_ms: int | None
    frozen_first_seq: int | None
    frozen_last_seq: int | None
    frozen_fingerprint: bytes | None
    relay_high_seq: int | None
    relay_epoch: str | None
    relay_seen_at_ms: int | None
    down_after: int
    failures: int
    last_error: str | None
    last_error_at_ms: int | None
    last_success_at_ms: int | None


@dataclass(frozen=True, slots=True)
class Alarm:
    alarm_id: int
    reason: str
    detail: str
    seq: int | None
    raised_at_ms: int
    last_seen_at_ms: int
    count: int
    cleared_at_ms: int | None


def load(conn: apsw.Connection) -> CursorState:
    row = conn.execute(f"SELECT {_STATE_COLUMNS} FROM sync_state WHERE id = 1").fetchall()[0]
    return CursorState(*row)


def ack_matches(frozen: FrozenBatch, ack: BatchAck) -> bool:
    """Only this completes a batch: the relay names our batch, took all of it, its hash of
    the last event is ours, and (relays that report it) it answers exactly the bytes we sent."""
    return (ack.batch_id == frozen.batch_id
            and ack.accepted_through_seq == frozen.last_seq
            and ack.last_hash_hex.lower() == frozen.last_hash.hex()
            and ack.fingerprint_hex.lower() in ("", frozen.fingerprint.hex()))


def freeze(conn: apsw.Connection, frozen: FrozenBatch) -> None:
    conn.execute(
        "UPDATE sync_state SET frozen_first_seq = ?, frozen_last_seq = ?, frozen_fingerprint = ? "
        "WHERE id = 1", (frozen.first_seq, frozen.last_seq, frozen.fingerprint),
    )


def unfreeze(conn: apsw.Connection) -> None:
    """Forget the frozen range: its events no longer verify, so it can never be sent as it
    was; the next batch is cut anew before the break."""
    conn.execute("UPDATE sync_state SET frozen_first_seq = NULL, frozen_last_seq = NULL, "
                 "frozen_fingerprint = NULL WHERE id = 1")


def record_ack(conn: apsw.Connection, frozen: FrozenBatch, ack: BatchAck, now_ms: int) -> None:
    """The ack row and the cursor move together, or neither does."""
    if not ack_matches(frozen, ack):
        raise ValueError(f"ack {ack.batch_id}@{ack.accepted_through_seq} does not match "
                         f"batch {frozen.batch_id}")
    state = load(conn)
    if frozen.last_seq <= state.acked_seq:
        return  # an older batch acked late: the cursor is already past it
    if frozen.first_seq > state.acked_seq + 1:
        raise ValueError(f"batch {frozen.batch_id} does not follow the cursor {state.acked_seq}")
    conn.execute(
        "INSERT INTO sync_acks (batch_id, first_seq, last_seq, last_hash, source, relay_epoch, "
        "quarantined, recorded_at_ms) VALUES (?, ?, ?, ?, 'ack', ?, ?, ?)",
        (frozen.batch_id, frozen.first_seq, frozen.last_seq, frozen.last_hash, ack.relay_epoch,
         len(ack.quarantined), now_ms),
    )
    for q in ack.quarantined:
        conn.execute(
            "INSERT OR REPLACE INTO sync_quarantined (seq, event_id, reason, reported_at_ms) "
            "VALUES (?, ?, ?, ?)", (q.seq, q.event_id, q.reason, now_ms),
        )
    conn.execute(
        "UPDATE sync_state SET acked_seq = ?, acked_hash = ?, acked_at_ms = ?, "
        "frozen_first_seq = NULL, frozen_last_seq = NULL, frozen_fingerprint = NULL, "
        "relay_high_seq = max(coalesce(relay_high_seq, 0), ?), relay_epoch = ?, "
        "relay_seen_at_ms = ?, failures = 0, last_success_at_ms = ? WHERE id = 1",
        (frozen.last_seq, frozen.last_hash, now_ms, ack.accepted_through_seq,
         ack.relay_epoch or None, now_ms, now_ms),
    )
    clear_alarms(conn, now_ms, frozen.last_seq)


def adopt_watermark(
    conn: apsw.Connection, *, high_seq: int, high_hash: bytes, relay_epoch: str,
    local_hash: bytes | None, now_ms: int,
) -> str:
    """Align the cursor with the relay's watermark. Returns what was done: "same", "forward"
    (the relay holds events we had no ack for; their hash matches), "back" (the relay has
    less), or "diverged" (the relay's hash at its watermark is not ours: cursor untouched)."""
    state = load(conn)
    conn.execute(
        "UPDATE sync_state SET relay_high_seq = ?, relay_epoch = ?, relay_seen_at_ms = ? "
        "WHERE id = 1", (high_seq, relay_epoch or None, now_ms),
    )
    if high_seq == state.acked_seq:
        return "same"
    if local_hash is None or local_hash != high_hash:
        return "diverged"
    source, outcome = ("watermark", "forward") if high_seq > state.acked_seq else ("rewind", "back")
    _move(conn, high_seq, high_hash, source, relay_epoch, now_ms)
    return outcome


def rewind(conn: apsw.Connection, *, to_seq: int, to_hash: bytes, relay_epoch: str,
           now_ms: int) -> None:
    """The relay asked for events from `to_seq + 1` on: resend them."""
    _move(conn, to_seq, to_hash, "rewind", relay_epoch, now_ms)


def _move(conn: apsw.Connection, seq: int, digest: bytes, source: str, relay_epoch: str,
          now_ms: int) -> None:
    conn.execute(
        "INSERT INTO sync_acks (batch_id, first_seq, last_seq, last_hash, source, relay_epoch, "
        "quarantined, recorded_at_ms) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
        (f"{source}:{seq}", seq, seq, digest, source, relay_epoch or "", now_ms),
    )
    conn.execute(
        "UPDATE sync_state SET acked_seq = ?, acked_hash = ?, acked_at_ms = ?, "
        "frozen_first_seq = NULL, frozen_last_seq = NULL, frozen_fingerprint = NULL "
        "WHERE id = 1", (seq, digest, now_ms),
    )


def record_failure(conn: apsw.Connection, *, error: str, failures: int, now_ms: int) -> None:
    conn.execute(
        "UPDATE sync_state SET failures = ?, last_error = ?, last_error_at_ms = ? WHERE id = 1",
        (failures, error[:2000], now_ms),
    )


def record_contact(conn: apsw.Connection, now_ms: int) -> None:
    """A round that reached the relay and had nothing to send: the failure streak is over."""
    conn.execute(
        "UPDATE sync_state SET failures = 0, last_success_at_ms = ? WHERE id = 1", (now_ms,),
    )


def set_down_after(conn: apsw.Connection, change_id: int) -> None:
    conn.execute("UPDATE sync_state SET down_after = max(down_after, ?) WHERE id = 1",
                 (change_id,))


# --- alarms ------------------------------------------------------------------------------


def raise_alarm(conn: apsw.Connection, reason: str, detail: str, seq: int | None,
                now_ms: int) -> bool:
    """Record an alarm; True when it is new (not a repeat of an open alarm of this reason)."""
    rows = conn.execute(
        "SELECT alarm_id FROM sync_alarms WHERE reason = ? AND cleared_at_ms IS NULL",
        (reason,),
    ).fetchall()
    if rows:
        conn.execute(
            "UPDATE sync_alarms SET detail = ?, seq = ?, last_seen_at_ms = ?, count = count + 1 "
            "WHERE alarm_id = ?", (detail, seq, now_ms, rows[0][0]),
        )
        return False
    conn.execute(
        "INSERT INTO sync_alarms (reason, detail, seq, raised_at_ms, last_seen_at_ms, count) "
        "VALUES (?, ?, ?, ?, ?, 1)", (reason, detail, seq, now_ms, now_ms),
    )
    return True


CHAIN_BROKEN = "chain_broken"
# Down-sync changes of a kind this release does not know are held (`sync_held_changes`): open
# while any is held, whatever the upload does; cleared when a release that knows them applied
# them all.
CHANGE_KIND_UNKNOWN = "change_kind_unknown"
# Alarms about what down-sync brought rather than about the link (a promotion bundle the store
# refused): an accepted batch does not resolve them; the domain that raised one clears it.
NOT_CLEARED_BY_UPLOAD = ("promotion_bundle_refused", "promotion_key_changed",
                         CHANGE_KIND_UNKNOWN)


def clear_alarms(conn: apsw.Connection, now_ms: int, acked_seq: int) -> None:
    """An accepted batch (through `acked_seq`) proves the chain continues at the relay: open
    alarms are resolved, but a break of the store's own log past `acked_seq` and the alarms
    `NOT_CLEARED_BY_UPLOAD`."""
    conn.execute("UPDATE sync_alarms SET cleared_at_ms = ? WHERE cleared_at_ms IS NULL "
                 "AND NOT (reason = ? AND coalesce(seq, 0) > ?) "
                 f"AND reason NOT IN ({','.join('?' * len(NOT_CLEARED_BY_UPLOAD))})",
                 (now_ms, CHAIN_BROKEN, acked_seq, *NOT_CLEARED_BY_UPLOAD))


def keep_alarm(conn: apsw.Connection, reason: str, detail: str | None, now_ms: int) -> bool:
    """Make the open alarm of `reason` match a standing condition without counting a repeat:
    `detail` None clears it; else the open one takes the detail, or one is raised (True)."""
    if detail is None:
        clear_alarm(conn, reason, now_ms)
        return False
    n = conn.execute("UPDATE sync_alarms SET detail = ? WHERE reason = ? AND cleared_at_ms "
                     "IS NULL RETURNING alarm_id", (detail, reason)).fetchall()
    return False if n else raise_alarm(conn, reason, detail, None, now_ms)


def clear_alarm(conn: apsw.Connection, reason: str, now_ms: int) -> None:
    """Resolve the open alarm of one reason (its cause is gone)."""
    conn.execute("UPDATE sync_alarms SET cleared_at_ms = ? WHERE cleared_at_ms IS NULL "
                 "AND reason = ?", (now_ms, reason))


def open_chain_break(conn: apsw.Connection) -> Alarm | None:
    """The open `chain_broken` alarm: where the store's own log fails its hash chain."""
    found = alarms(conn, open_only=True, reason=CHAIN_BROKEN, limit=1)
    return found[0] if found else None


def alarms(conn: apsw.Connection, *, open_only: bool = False, reason: str | None = None,
           limit: int = 20) -> list[Alarm]:
    where = ["cleared_at_ms IS NULL"] if open_only else []
    args: list = []
    if reason is not None:
        where.append("reason = ?")
        args.append(reason)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return [Alarm(*row) for row in conn.execute(
        "SELECT alarm_id, reason, detail, seq, raised_at_ms, last_seen_at_ms, count, "
        f"cleared_at_ms FROM sync_alarms {clause} ORDER BY alarm_id DESC LIMIT ?",
        (*args, limit),
    )]
