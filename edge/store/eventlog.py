"""The store's append-only event log: rows of `schemas.envelope.Event`, hash-chained by
`core.chain`.

Invariants: `seq` is gapless and strictly increasing from the latest retention checkpoint
(`edge.store.retention`; seq 1 when there is none); only the writer appends (triggers refuse
UPDATE, and DELETE of anything above the checkpoint); each row's hash links it to the one
before (see `core.chain`), the first row's to the checkpoint's hash.

Bodies are stored through `core.bodycodec` (deflated against a preset dictionary); every
`Event` this module hands out carries the canonical bytes the hash covers.
"""

from __future__ import annotations

from collections.abc import Iterator

import apsw

from core import bodycodec, chain
from core.chain import GENESIS_HASH, ChainReport
from schemas.envelope import COLUMNS as _FIELDS
from schemas.envelope import Event

COLUMNS = ", ".join(_FIELDS)
_INSERT = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * len(_FIELDS))})"


def head(conn: apsw.Connection) -> tuple[int, bytes]:
    rows = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchall()
    return (rows[0][0], rows[0][1]) if rows else checkpoint(conn)


def insert(conn: apsw.Connection, ev: Event) -> None:
    conn.execute(_INSERT, (
        ev.seq, ev.event_id, ev.tenant_id, ev.store_id, ev.lane_id, ev.stream, ev.type,
        ev.schema_version, ev.recorded_at_ms, ev.business_date, bodycodec.encode(ev.body),
        ev.prev_hash, ev.hash))


def read(conn: apsw.Connection, after_seq: int = 0, limit: int | None = None) -> Iterator[Event]:
    sql = f"SELECT {COLUMNS} FROM events WHERE seq > ? ORDER BY seq"
    args: tuple = (after_seq,)
    if limit is not None:
        sql += " LIMIT ?"
        args = (after_seq, limit)
    event_of = bodycodec.event_of
    for row in conn.execute(sql, args):
        yield event_of(row)


def checkpoint(conn: apsw.Connection) -> tuple[int, bytes]:
    """Where the hot log starts: the latest retention checkpoint's (seq, hash), or (0, genesis)."""
    rows = conn.execute(
        "SELECT seq, hash FROM event_checkpoints ORDER BY seq DESC LIMIT 1").fetchall()
    return (rows[0][0], rows[0][1]) if rows else (0, GENESIS_HASH)


def verify_chain(conn: apsw.Connection) -> ChainReport:
    seq, digest = checkpoint(conn)
    return chain.verify(read(conn, seq), first_seq=seq + 1, prev_hash=digest)
