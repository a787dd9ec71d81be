"""Building upload batches from the event log: the log is the outbox.

A batch is the contiguous seq range `first..last` of the store's log that follows a cursor,
cut by explicit limits (events and uncompressed bytes, whichever comes first; at least one
event). Its id is `<store>:<first>-<last>`, its fingerprint the SHA-256 of its wire bytes.

Determinism (what makes a retry safe): events are immutable and the encoding is a pure
function of them, so rebuilding the same range gives the same bytes. The engine persists the
range of the batch it froze before the first send (`sync_state.frozen_*`) and rebuilds exactly
that range on a retry or after a restart (`rebuild`), never a longer one.

A batch never carries an event whose chain does not verify (`core.chain.hash_of` does not
recompute its hash, or its `prev_hash` does not link to the event before): the batch is cut
before it, so the events before a tampered or corrupt row still upload, and when the very next
event is the broken one the answer is a `ChainBreak` naming its seq instead of a batch. Nothing
at or after the break is ever sent (the relay would refuse it, and it must not be skipped).

Reads only: call it with a read connection (never the writer's), off the event loop.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import apsw

from core.bodycodec import event_of
from core.chain import GENESIS_HASH, hash_of
from schemas.envelope import COLUMNS, Event
from schemas.sync import PROTOCOL_VERSION, Batch, batch_id, encode_batch

# The log's columns in envelope field order, so a row becomes an `Event` without reshuffling.
_COLUMNS = ", ".join(COLUMNS)
# Fixed msgpack cost of one array-like Event beyond its variable fields: array header,
# string/bin headers, ints, the two 32-byte hashes (about 115 bytes). An over-estimate, so a
# batch cut by the estimate never exceeds the byte limit.
_EVENT_OVERHEAD_BYTES = 128


@dataclass(frozen=True, slots=True)
class FrozenBatch:
    batch_id: str
    first_seq: int
    last_seq: int
    prev_hash: bytes
    last_hash: bytes
    body: bytes  # the wire bytes: zlib(msgpack(Batch))
    fingerprint: bytes  # SHA-256 of `body`
    events: int
    raw_bytes_estimate: int


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The store's own log fails its hash chain at `seq`: what is before it can go up, nothing
    from it on can."""

    seq: int
    reason: str


def chain_break(ev: Event, expected_seq: int, expected_prev: bytes | None) -> ChainBreak | None:
    """Why `ev` cannot follow an event whose seq is `expected_seq - 1` and whose hash is
    `expected_prev` (None: unknown, the link is not checked), or None when it can."""
    if ev.seq != expected_seq:
        return ChainBreak(expected_seq, f"is missing from the log (the next row is seq {ev.seq})")
    if expected_prev is not None and ev.prev_hash != expected_prev:
        return ChainBreak(ev.seq, "does not link to the event before it (prev_hash differs)")
    if hash_of(ev) != ev.hash:
        return ChainBreak(ev.seq, "does not match its own hash (altered or corrupt)")
    return None


def event_size_estimate(ev: Event) -> int:
    return (_EVENT_OVERHEAD_BYTES + len(ev.body) + len(ev.event_id) + len(ev.tenant_id)
            + len(ev.store_id) + len(ev.stream) + len(ev.type) + len(ev.lane_id or "")
            + len(ev.business_date))


def _freeze(tenant_id: str, store_id: str, events: list[Event], size: int) -> FrozenBatch:
    first, last = events[0], events[-1]
    bid = batch_id(store_id, first.seq, last.seq)
    batch = Batch(
        protocol=PROTOCOL_VERSION, batch_id=bid, tenant_id=tenant_id, store_id=store_id,
        first_seq=first.seq, last_seq=last.seq, prev_hash=first.prev_hash,
        last_hash=last.hash, events=events,
    )
    body = encode_batch(batch)
    return FrozenBatch(bid, first.seq, last.seq, first.prev_hash, last.hash, body,
                       hashlib.sha256(body).digest(), len(events), size)


def next_batch(
    conn: apsw.Connection, tenant_id: str, store_id: str, after_seq: int, *,
    max_events: int, max_bytes: int, prev_hash: bytes | None = None,
) -> FrozenBatch | ChainBreak | None:
    """The batch that follows `after_seq` (whose hash is `prev_hash`, by default the stored
    one), cut before the first event that breaks the chain; the `ChainBreak` when the first
    event does; None when nothing follows `after_seq`."""
    assert max_events >= 1 and max_bytes >= 1
    expected = hash_at(conn, after_seq) if prev_hash is None else prev_hash
    events: list[Event] = []
    size = 0
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, max_events),
    )
    for row in rows:
        ev = event_of(row)
        broken = chain_break(ev, after_seq + len(events) + 1, expected)
        if broken is not None:
            if not events:
                return broken
            break
        cost = event_size_estimate(ev)
        if events and size + cost > max_bytes:
            break
        events.append(ev)
        size += cost
        expected = ev.hash
    if not events:
        return None
    return _freeze(tenant_id, store_id, events, size)


def rebuild(
    conn: apsw.Connection, tenant_id: str, store_id: str, first_seq: int, last_seq: int,
    prev_hash: bytes | None = None,
) -> FrozenBatch | ChainBreak:
    """Exactly the range `first_seq..last_seq` again (the frozen batch of an earlier send), or
    the `ChainBreak` inside it when the log no longer verifies there."""
    assert 1 <= first_seq <= last_seq
    events = [event_of(row) for row in conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
        (first_seq, last_seq),
    )]
    if len(events) != last_seq - first_seq + 1:
        raise RuntimeError(f"events {first_seq}-{last_seq} are not all in the log")
    expected = hash_at(conn, first_seq - 1) if prev_hash is None else prev_hash
    for i, ev in enumerate(events):
        broken = chain_break(ev, first_seq + i, expected)
        if broken is not None:
            return broken
        expected = ev.hash
    return _freeze(tenant_id, store_id, events, sum(map(event_size_estimate, events)))


def hash_at(conn: apsw.Connection, seq: int) -> bytes | None:
    """The stored hash of event `seq` (the genesis hash for 0), None past the head."""
    if seq == 0:
        return GENESIS_HASH
    rows = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchall()
    if not rows:  # at a retention checkpoint the event is gone, its hash recorded
        rows = conn.execute("SELECT hash FROM event_checkpoints WHERE seq = ?",
                            (seq,)).fetchall()
    return rows[0][0] if rows else None


def head_seq(conn: apsw.Connection) -> int:
    rows = conn.execute("SELECT max(seq) FROM events").fetchall()
    return rows[0][0] or 0
