"""The append-only, hash-chained event log.

Invariants:
- `seq` is gapless and strictly increasing (1, 2, 3, ...); only the writer appends.
- `hash = SHA-256(prev_hash || header || 0x0A || body)` where `header` is the canonical JSON of
  the envelope fields and `body` the stored msgspec bytes; `prev_hash` of seq 1 is 32 zero bytes.
  Changing any stored byte of any event breaks the chain from that event on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import apsw
import msgspec

GENESIS_HASH = bytes(32)

_header_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    event_id: str
    tenant_id: str
    store_id: str
    lane_id: str | None
    stream: str
    type: str
    schema_version: int
    recorded_at_ms: int
    business_date: str
    body: bytes
    prev_hash: bytes
    hash: bytes


COLUMNS = (
    "seq, event_id, tenant_id, store_id, lane_id, stream, type, schema_version, "
    "recorded_at_ms, business_date, body, prev_hash, hash"
)


def chain_hash(
    prev_hash: bytes,
    *,
    seq: int,
    event_id: str,
    tenant_id: str,
    store_id: str,
    lane_id: str | None,
    stream: str,
    type: str,
    schema_version: int,
    recorded_at_ms: int,
    business_date: str,
    body: bytes,
) -> bytes:
    header = _header_encoder.encode(
        [seq, event_id, tenant_id, store_id, lane_id, stream, type, schema_version,
         recorded_at_ms, business_date]
    )
    return hashlib.sha256(prev_hash + header + b"\n" + body).digest()


def head(conn: apsw.Connection) -> tuple[int, bytes]:
    rows = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchall()
    return (rows[0][0], rows[0][1]) if rows else (0, GENESIS_HASH)


def insert(conn: apsw.Connection, ev: StoredEvent) -> None:
    conn.execute(
        f"INSERT INTO events ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (ev.seq, ev.event_id, ev.tenant_id, ev.store_id, ev.lane_id, ev.stream, ev.type,
         ev.schema_version, ev.recorded_at_ms, ev.business_date, ev.body, ev.prev_hash, ev.hash),
    )


def read(conn: apsw.Connection, after_seq: int = 0, limit: int | None = None) -> Iterator[StoredEvent]:
    sql = f"SELECT {COLUMNS} FROM events WHERE seq > ? ORDER BY seq"
    args: tuple = (after_seq,)
    if limit is not None:
        sql += " LIMIT ?"
        args = (after_seq, limit)
    for row in conn.execute(sql, args):
        yield StoredEvent(*row)


@dataclass(frozen=True, slots=True)
class ChainReport:
    events: int
    head_seq: int
    ok: bool
    broken_at_seq: int | None = None
    reason: str = ""


def verify_chain(conn: apsw.Connection) -> ChainReport:
    expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
    for ev in read(conn):
        if ev.seq != expected_seq:
            return ChainReport(count, ev.seq, False, expected_seq, f"gap: expected seq {expected_seq}, found {ev.seq}")
        if ev.prev_hash != expected_prev:
            return ChainReport(count, ev.seq, False, ev.seq, "prev_hash does not match the previous event's hash")
        computed = chain_hash(
            ev.prev_hash, seq=ev.seq, event_id=ev.event_id, tenant_id=ev.tenant_id,
            store_id=ev.store_id, lane_id=ev.lane_id, stream=ev.stream, type=ev.type,
            schema_version=ev.schema_version, recorded_at_ms=ev.recorded_at_ms,
            business_date=ev.business_date, body=ev.body,
        )
        if computed != ev.hash:
            return ChainReport(count, ev.seq, False, ev.seq, "event bytes do not match its hash (tampered or corrupt)")
        expected_prev, expected_seq, count = ev.hash, ev.seq + 1, count + 1
    return ChainReport(count, expected_seq - 1, True)
