"""PostgreSQL backend (psycopg 3 + psycopg_pool): many relay processes on one database.

- Ingest writes a group of batches' events with one binary COPY inside the group's
  transaction (`storage.ingest`); several statements of a group go in one pipeline (`each`).
- An idempotency key is "in flight" while a transaction holds `pg_try_advisory_xact_lock` on
  it: visible to every relay process, released by commit, rollback or a dead connection.
- Ledger order is gap-safe across processes: `ledger_seq` comes from the tenant's counter row,
  whose row lock the ingest transaction holds until it commits (see `storage.ingest`).
- Reads run in REPEATABLE READ READ ONLY transactions: one snapshot per request.
- HQ's ledger pages and the JSONL export are written by PostgreSQL itself (`_EVENT_JSON`):
  each row arrives as its `LedgerEvent` JSON, byte for byte what the portable path
  (`storage.ledger.ledger_event`, encoded by msgspec) writes, so the relay only joins bytes.
- Migrations (`storage.schema`, rendered for PostgreSQL) run in one transaction under an
  advisory lock, so relay processes starting together do not race; the version is kept in
  `meta` as every earlier build kept it, and the relay epoch is created with the schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from cloud_relay.storage import schema
from cloud_relay.storage.backend import INSERT_COLUMNS, Tx
from cloud_relay.storage.base import Storage
from cloud_relay.storage.ledger import EncodedEvents, WrittenEvents, page_query
from cloud_relay.storage.schema import EVENT_COLUMNS
from core.errors import IdempotencyKeyInFlight
from core.idempotency import InFlight
from core.migrations import POSTGRES, Migration, render

POOL_MAX = 16
APPLICATION_NAME = "novapos-relay"
_MIGRATION_LOCK = 0x4E6F7661  # any constant shared by every relay process
_COLUMN_TYPES = {
    "store_id": "text", "seq": "int8", "tenant_id": "text", "ledger_seq": "int8",
    "event_id": "text", "lane_id": "text", "stream": "text", "type": "text",
    "schema_version": "int8", "recorded_at_ms": "int8", "business_date": "text",
    "body": "bytea", "prev_hash": "bytea", "hash": "bytea", "received_at_ms": "int8",
    "quarantine": "text",
}
assert sorted(_COLUMN_TYPES) == sorted(EVENT_COLUMNS) == sorted(INSERT_COLUMNS)
_COPY_TYPES = [_COLUMN_TYPES[c] for c in INSERT_COLUMNS]
_COPY_EVENTS = f"COPY events ({', '.join(INSERT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"

# One ledger row as `schemas.relay.LedgerEvent` JSON (bytea), fields in the struct's order, as
# msgspec encodes it: `to_json(text)` escapes strings exactly as msgspec does (quote, backslash
# and control characters, nothing else), `encode(.., 'hex')` is lowercase like `bytes.hex()`,
# and PostgreSQL's base64 breaks lines every 76 characters, which `replace` removes. An
# interpretable body is msgspec JSON: appended as its stored bytes, as `msgspec.Raw` does
# (bytea concatenation: no UTF-8 validation or conversion of the body, ~30% of the line's
# cost when it was text). `concat` builds the text part in one allocation.
_HEAD = (
    """'{"ledger_seq":', ledger_seq, ',"store_id":', to_json(store_id), ',"seq":', seq,"""
    """ ',"event_id":', to_json(event_id),"""
    """ ',"lane_id":', coalesce(to_json(lane_id)::text, 'null'),"""
    """ ',"stream":', to_json(stream), ',"type":', to_json(type),"""
    """ ',"schema_version":', schema_version, ',"recorded_at_ms":', recorded_at_ms,"""
    """ ',"business_date":', to_json(business_date),"""
    """ ',"prev_hash_hex":"', encode(prev_hash, 'hex'), '","hash_hex":"', encode(hash, 'hex'),"""
)
_B64 = "replace(encode(body, 'base64'), E'\\n', '')"
_BODY_B64_BOTH = f"""'","body_b64":"', {_B64}, '"',"""
# `schemas.relay.LedgerEventOnce`: base64 only for a quarantined body (~half the database's
# cost per event is the base64).
_BODY_B64_ONCE = (f"""'","body_b64":', CASE WHEN quarantine IS NULL THEN 'null' """
                  f"""ELSE concat('"', {_B64}, '"') END,""")
_TAIL = (""" ',"received_at_ms":', received_at_ms,"""
         """ ',"quarantine":', coalesce(to_json(quarantine)::text, 'null'), ',"body":'""")


def _event_line(body_b64: str) -> str:
    return (f"convert_to(concat({_HEAD}{body_b64}{_TAIL}), 'UTF8') || CASE WHEN quarantine "
            "IS NULL THEN body ELSE 'null'::bytea END || '}'::bytea")


_EVENT_JSON = _event_line(_BODY_B64_BOTH)
_EVENT_JSON_ONCE = _event_line(_BODY_B64_ONCE)
# A range of the tenant's ledger as rows of LINES_PER_ROW events' lines each: few rows of a
# few hundred KB keep the relay's per-row work negligible, and streamed (`Cursor.stream`) the
# database writes the next rows while the relay joins and sends the previous ones. Each row
# aggregates its own range through the ledger index; no sort of the wide rows (an ORDER BY
# on the outer query would sort them all, spilling to disk): rows are put in order by `lo`.
# (Measured against it: one COPY of a line per event, which costs the relay ~15 us per row.)
LINES_PER_ROW = 64


def _range_lines_sql(line: str) -> str:
    return (
        "SELECT g.lo, s.n, s.lines FROM generate_series(?::bigint, ?::bigint - 1, "
        f"{LINES_PER_ROW}) AS g(lo), LATERAL (SELECT count(*) AS n, "
        f"string_agg({line}, ?::bytea ORDER BY ledger_seq) AS lines "
        "FROM events WHERE tenant_id = ? AND ledger_seq > g.lo AND "
        f"ledger_seq <= least(g.lo + {LINES_PER_ROW}, ?)) AS s"
    )


_RANGE_LINES = {False: _range_lines_sql(_EVENT_JSON), True: _range_lines_sql(_EVENT_JSON_ONCE)}
# The last ledger_seq of (after, after + limit] and whether events follow it.
_RANGE_END = ("SELECT max(ledger_seq), EXISTS (SELECT 1 FROM events WHERE tenant_id = ? AND "
              "ledger_seq > ?) FROM events WHERE tenant_id = ? AND ledger_seq > ? AND "
              "ledger_seq <= ?")


def _range_end(tx: Tx, tenant_id: str, after: int, limit: int) -> tuple[int | None, bool]:
    row = tx.one(_RANGE_END, (tenant_id, after + limit, tenant_id, after, after + limit))
    assert row is not None
    return row[0], bool(row[1])


def _range_lines(tx: _PgTx, tenant_id: str, after: int, last: int, separator: bytes,
                 body_once: bool = False) -> Iterator[tuple[int, bytes]]:
    """(events, their lines joined by `separator`) for the tenant's (after, last], in ledger
    order. The ledger is gapless: every row holds its whole range, or the ledger is broken."""
    pending: dict[int, tuple[int, bytes]] = {}
    expected = after
    for lo, n, lines in tx.cur.stream(_pg(_RANGE_LINES[body_once]),
                                      (after, last, separator, tenant_id, last)):
        pending[lo] = (n, lines)
        while expected in pending:  # rows come in `lo` order; this only guards the order
            n, lines = pending.pop(expected)
            assert n == min(LINES_PER_ROW, last - expected), f"a gap after {expected}"
            yield n, lines
            expected += n
    assert expected == last and not pending, (after, expected, last)


_PLACEHOLDER = re.compile(r"\?")
_sql_cache: dict[str, str] = {}


def _pg(sql: str) -> str:
    converted = _sql_cache.get(sql)
    if converted is None:
        converted = _sql_cache[sql] = _PLACEHOLDER.sub("%s", sql)
    return converted


class _PgTx(Tx):
    def __init__(self, conn: psycopg.Connection, *, binary: bool = False) -> None:
        self.conn = conn
        # Reads take results in binary: a bytea body arrives as its bytes instead of twice
        # as many hex digits the client must decode (the ledger pages are mostly bodies).
        self.cur = conn.cursor(binary=binary)

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        self.cur.execute(_pg(sql), tuple(args))
        return self.cur.fetchall() if self.cur.description is not None else []

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cur.executemany(_pg(sql), rows)

    def each(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[tuple | None]:
        # One pipeline: every statement is sent before the first result is read.
        if not rows:
            return []
        self.cur.executemany(_pg(sql), rows, returning=True)
        out = []
        while True:
            out.append(self.cur.fetchone())
            if not self.cur.nextset():
                return out

    def script(self, sql: str) -> None:
        self.cur.execute(sql)  # no parameters: psycopg sends several statements as one query


def _key_lock_id(scope: str, key: str) -> int:
    digest = hashlib.sha256(f"{scope}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _in_flight(key: str) -> IdempotencyKeyInFlight:
    return IdempotencyKeyInFlight(f"batch {key} is being stored by another request; retry "
                                  "shortly")


def _fast_bytea_dumper() -> type | None:
    """psycopg's C dumper for bytes: by default COPY's bytea columns go through a pure-Python
    DB-API wrapper, a measurable share of ingest time."""
    try:
        from psycopg_binary import _psycopg  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - the pure-Python build still works, slower
        return None
    return getattr(_psycopg, "BytesBinaryDumper", None)


_BYTEA_DUMPER = _fast_bytea_dumper()


def _configure(conn: psycopg.Connection) -> None:
    if _BYTEA_DUMPER is not None:
        conn.adapters.register_dumper(bytes, _BYTEA_DUMPER)


class _MetaVersion:
    """`core.migrations.Target` for the relay's PostgreSQL schema: the version is the
    `schema_version` row of `meta` (where every earlier build kept it), applied inside the
    caller's transaction. Migration 1 creates `meta`, so before it there is no version."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def current(self, component: str) -> int:
        assert component == schema.COMPONENT, component
        if self.tx.rows("SELECT to_regclass('meta')")[0][0] is None:
            return 0
        row = self.tx.one("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(row[0]) if row else 0

    def apply(self, component: str, migration: Migration) -> None:
        self.tx.script(render(migration.sql, POSTGRES))
        self.tx.rows("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (str(migration.version),))
        schema.note_applied(self.tx, migration.version)


class PostgresStorage(Storage):
    backend = "postgresql"
    FOR_UPDATE = " FOR UPDATE"
    UNAVAILABLE = (psycopg.OperationalError, PoolTimeout)

    def __init__(self, url: str, pool_max: int = POOL_MAX) -> None:
        self.url = url
        self._in_flight = InFlight()  # this process's uploads (the advisory lock: all's)
        with psycopg.connect(url, connect_timeout=10, application_name=APPLICATION_NAME) as conn:
            with conn.transaction():
                # Every pending migration and the epoch in one transaction, under a lock that
                # makes relay processes starting together take turns.
                tx = _PgTx(conn)
                tx.rows("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
                self.epoch = schema.upgrade(tx, _MetaVersion(tx))
        # `check` costs a round trip per checkout and spares requests a connection the server
        # dropped (restart, failover, idle kill): those would otherwise fail once each.
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_max, open=True,
                                    kwargs={"connect_timeout": 10,
                                            "application_name": APPLICATION_NAME},
                                    name="novapos-relay", configure=_configure,
                                    check=ConnectionPool.check_connection, timeout=30)

    @contextlib.contextmanager
    def _write(self) -> Iterator[Tx]:
        with self._pool.connection() as conn, conn.transaction():
            yield _PgTx(conn)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Tx]:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield _PgTx(conn, binary=True)

    def ledger_json(self, tenant_id: str, after_ledger_seq: int, limit: int,
                    store_id: str | None = None, separator: bytes = b",") -> EncodedEvents:
        # The database writes each event's JSON; the relay joins a row per LINES_PER_ROW
        # events. One store's events are not a range of ledger_seq: a row per event then.
        with self._read() as tx:
            assert isinstance(tx, _PgTx)
            if store_id is not None:
                sql, args = page_query(f"ledger_seq, {_EVENT_JSON}", tenant_id,
                                       after_ledger_seq, limit + 1, store_id)
                rows = tx.rows(sql, args)
                page = rows[:limit]
                return EncodedEvents(separator.join([r[1] for r in page]), len(page),
                                     page[-1][0] if page else None, len(rows) > limit)
            last, more = _range_end(tx, tenant_id, after_ledger_seq, limit)
            if last is None:
                return EncodedEvents(b"", 0, None, more)
            chunks = [data for _, data in _range_lines(tx, tenant_id, after_ledger_seq, last,
                                                       separator)]
        return EncodedEvents(separator.join(chunks), last - after_ledger_seq, last, more)

    def write_jsonl(self, tenant_id: str, after_ledger_seq: int, limit: int,
                    write: Callable[[bytes, int], None],
                    page_events: int = 5_000, body_once: bool = False) -> WrittenEvents:
        # One snapshot and one statement for the whole range, streamed: the database writes
        # lines while the relay writes the previous ones out.
        with self._read() as tx:
            assert isinstance(tx, _PgTx)
            last, more = _range_end(tx, tenant_id, after_ledger_seq, limit)
            if last is None:
                return WrittenEvents(0, None, more)
            batch: list[bytes] = []
            events = 0
            for n, data in _range_lines(tx, tenant_id, after_ledger_seq, last, b"\n",
                                        body_once):
                batch.append(data)
                batch.append(b"\n")
                events += n
                if events >= page_events:
                    write(b"".join(batch), events)
                    batch.clear()
                    events = 0
            if batch:
                write(b"".join(batch), events)
        return WrittenEvents(last - after_ledger_seq, last, more)

    def _insert_events(self, tx: Tx, rows: list[tuple]) -> None:
        assert isinstance(tx, _PgTx)
        with tx.cur.copy(_COPY_EVENTS) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)

    def _hold_local(self, scope: str, key: str) -> contextlib.AbstractContextManager[None]:
        return self._in_flight.hold(scope, key)

    def _claim_keys(self, tx: Tx, keys: Sequence[tuple[str, str]]) -> list[bool]:
        # Transaction-level locks (one round trip for all): released by commit, rollback or a
        # dead connection, and seen by every relay process on the database.
        got = tx.each("SELECT pg_try_advisory_xact_lock(?)",
                      [(_key_lock_id(scope, key),) for scope, key in keys])
        return [bool(row and row[0]) for row in got]

    @contextlib.contextmanager
    def hold_key(self, scope: str, key: str) -> Iterator[None]:
        lock_id = _key_lock_id(scope, key)
        with self._pool.connection() as conn:
            conn.autocommit = True
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_id,)).fetchone()
                if not row or not row[0]:
                    raise _in_flight(key)
                try:
                    yield
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))
            finally:
                conn.autocommit = False

    def close(self) -> None:
        self._pool.close()
