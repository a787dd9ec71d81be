"""PostgreSQL backend (psycopg 3 + psycopg_pool): many relay processes on one database.

- Ingest writes a group of batches' events with one binary COPY inside the group's
  transaction (`storage.ingest`); several statements of a group go in one pipeline (`each`).
- An idempotency key is "in flight" while a transaction holds `pg_try_advisory_xact_lock` on
  it: visible to every relay process, released by commit, rollback or a dead connection.
- Ledger order is gap-safe across processes: `ledger_seq` comes from the tenant's counter row,
  whose row lock the ingest transaction holds until it commits (see `storage.ingest`).
- Reads run in REPEATABLE READ READ ONLY transactions: one snapshot per request.
- Migrations (`storage.schema`, rendered for PostgreSQL) run in one transaction under an
  advisory lock, so relay processes starting together do not race; the version is kept in
  `meta` as every earlier build kept it, and the relay epoch is created with the schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from cloud_relay.storage import schema
from cloud_relay.storage.backend import INSERT_COLUMNS, Tx
from cloud_relay.storage.base import Storage
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
