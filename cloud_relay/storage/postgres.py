"""PostgreSQL backend (psycopg 3 + psycopg_pool): many relay processes on one database.

- Ingest writes a batch's events with one binary COPY inside the batch's transaction.
- An idempotency key is "in flight" while a transaction holds `pg_try_advisory_xact_lock` on
  it: visible to every relay process, released by commit, rollback or a dead connection.
- Ledger order is gap-safe across processes: `ledger_seq` comes from the tenant's counter row,
  whose row lock the ingest transaction holds until it commits (see `storage.base`).
- Reads run in REPEATABLE READ READ ONLY transactions: one snapshot per request.
- Migrations run under a transaction-level advisory lock, so relay processes starting together
  do not race; the relay epoch is created with the schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from cloud_relay.storage.backend import Tx
from cloud_relay.storage.base import Storage
from cloud_relay.storage.schema import EVENT_COLUMNS
from core.errors import IdempotencyKeyInFlight

POOL_MAX = 16
APPLICATION_NAME = "novapos-relay"
_MIGRATION_LOCK = 0x4E6F7661  # any constant shared by every relay process
_COPY_TYPES = ["text", "int8", "text", "int8", "text", "text", "text", "text", "int8", "int8",
               "text", "bytea", "bytea", "bytea", "int8", "text"]
assert len(_COPY_TYPES) == len(EVENT_COLUMNS)
_COPY_EVENTS = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "relay ledger, stores, HQ tokens, down-sync changes", """
CREATE TABLE tenants (
    tenant_id TEXT PRIMARY KEY,
    next_ledger_seq BIGINT NOT NULL,
    last_change_id BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE stores (
    store_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
    key_id TEXT NOT NULL UNIQUE,
    secret BYTEA NOT NULL,
    enrolled_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    high_seq BIGINT NOT NULL,
    last_hash BYTEA NOT NULL,
    last_seen_ms BIGINT,
    reported_head_seq BIGINT,
    applied_change_id BIGINT NOT NULL
);
CREATE INDEX stores_tenant ON stores(tenant_id);
CREATE TABLE events (
    store_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    ledger_seq BIGINT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    lane_id TEXT,
    stream TEXT NOT NULL,
    type TEXT NOT NULL,
    schema_version BIGINT NOT NULL,
    recorded_at_ms BIGINT NOT NULL,
    business_date TEXT NOT NULL,
    body BYTEA NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    received_at_ms BIGINT NOT NULL,
    quarantine TEXT,
    PRIMARY KEY (store_id, seq),
    UNIQUE (tenant_id, ledger_seq)
);
-- Reports read sales only: a partial index costs nothing for the other (most) events.
CREATE INDEX events_sales_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'sale.completed';
CREATE INDEX events_quarantine ON events(tenant_id, ledger_seq) WHERE quarantine IS NOT NULL;
CREATE TABLE idempotency_keys (
    store_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    ack BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (store_id, key)
);
CREATE TABLE hq_tokens (
    token_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
    token_hash BYTEA NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE TABLE changes (
    tenant_id TEXT NOT NULL,
    change_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload BYTEA NOT NULL,
    store_id TEXT,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, change_id)
);
CREATE TABLE hq_tax_classes (tenant_id TEXT, code TEXT, rate_ppm BIGINT NOT NULL,
                             PRIMARY KEY (tenant_id, code));
CREATE TABLE hq_skus (tenant_id TEXT, sku TEXT, product_id TEXT NOT NULL,
                      PRIMARY KEY (tenant_id, sku));
CREATE TABLE hq_barcodes (tenant_id TEXT, code TEXT, sku TEXT NOT NULL,
                          PRIMARY KEY (tenant_id, code));
CREATE TABLE hq_prices (
    tenant_id TEXT, sku TEXT, version BIGINT, amount_minor BIGINT NOT NULL,
    effective_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, sku, version)
);
"""),
    (2, "partial indexes for refunds and follow-ups (Z report, HQ follow-ups)", """
-- Like events_sales_day: only rows of these rare types get an index entry.
CREATE INDEX events_refund_created_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'order.refund_created';
CREATE INDEX events_refunded_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'payment.refunded';
CREATE INDEX events_forward_declined_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'payment.forward_declined';
CREATE INDEX events_stored_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'payment.stored';
"""),
]
LATEST_VERSION = MIGRATIONS[-1][0]

_PLACEHOLDER = re.compile(r"\?")
_sql_cache: dict[str, str] = {}


def _pg(sql: str) -> str:
    converted = _sql_cache.get(sql)
    if converted is None:
        converted = _sql_cache[sql] = _PLACEHOLDER.sub("%s", sql)
    return converted


class _PgTx(Tx):
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.cur = conn.cursor()

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        self.cur.execute(_pg(sql), tuple(args))
        return self.cur.fetchall() if self.cur.description is not None else []

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cur.executemany(_pg(sql), rows)


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


def migrate(conn: psycopg.Connection) -> str:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        current = int(row[0]) if row else 0
        if current > LATEST_VERSION:
            raise RuntimeError(f"relay database schema {current} is newer than this build "
                               f"({LATEST_VERSION})")
        for version, _title, sql in MIGRATIONS:
            if version <= current:
                continue
            conn.execute(sql)
            if version == 1:
                conn.execute("INSERT INTO meta (key, value) VALUES ('relay_epoch', %s)",
                             (secrets.token_hex(8),))
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(version),))
            conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) "
                         "DO UPDATE SET value = excluded.value",
                         (f"migration.{version}.applied_at_ms", str(time.time_ns() // 1_000_000)))
        epoch = conn.execute("SELECT value FROM meta WHERE key = 'relay_epoch'").fetchone()
        assert epoch is not None
        return epoch[0]


class PostgresStorage(Storage):
    backend = "postgresql"
    FOR_UPDATE = " FOR UPDATE"

    def __init__(self, url: str, pool_max: int = POOL_MAX) -> None:
        self.url = url
        with psycopg.connect(url, connect_timeout=10, application_name=APPLICATION_NAME) as conn:
            self.epoch = migrate(conn)
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
            yield _PgTx(conn)

    def _insert_events(self, tx: Tx, rows: list[tuple]) -> None:
        assert isinstance(tx, _PgTx)
        with tx.cur.copy(_COPY_EVENTS) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)

    @contextlib.contextmanager
    def _write_holding(self, scope: str, key: str) -> Iterator[Tx]:
        # A transaction-level lock: one round trip, released by commit, rollback or a dead
        # connection, and seen by every relay process on the database.
        with self._write() as tx:
            got = tx.one("SELECT pg_try_advisory_xact_lock(?)", (_key_lock_id(scope, key),))
            if not got or not got[0]:
                raise _in_flight(key)
            yield tx

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
