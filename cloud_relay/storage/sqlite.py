"""SQLite backend (apsw): the zero-config default, one file in the relay's data directory.

WAL + synchronous=FULL: a batch's commit returns only after the WAL is fsynced, so an ack is
never sent for something a power cut could lose. Each thread has its own connection; writers
queue on SQLite's write lock (BEGIN IMMEDIATE), so idempotency keys in flight are tracked in
this process before the transaction starts (several processes on one SQLite file still never
double-store: the UNIQUE constraints and the completed-key table decide, one writer at a time).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw

from cloud_relay.storage.backend import Tx
from cloud_relay.storage.base import Storage
from cloud_relay.storage.schema import EVENT_COLUMNS
from core.idempotency import InFlight

BUSY_TIMEOUT_MS = 30_000
DB_FILENAME = "relay.db"

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "relay ledger, stores, HQ tokens, down-sync changes", """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tenants (
    tenant_id TEXT PRIMARY KEY,
    next_ledger_seq INTEGER NOT NULL,
    last_change_id INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE stores (
    store_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
    key_id TEXT NOT NULL UNIQUE,
    secret BLOB NOT NULL,
    enrolled_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER,
    high_seq INTEGER NOT NULL,
    last_hash BLOB NOT NULL,
    last_seen_ms INTEGER,
    reported_head_seq INTEGER,
    applied_change_id INTEGER NOT NULL
);
CREATE INDEX stores_tenant ON stores(tenant_id);
CREATE TABLE events (
    store_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    ledger_seq INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    lane_id TEXT,
    stream TEXT NOT NULL,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    recorded_at_ms INTEGER NOT NULL,
    business_date TEXT NOT NULL,
    body BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    received_at_ms INTEGER NOT NULL,
    quarantine TEXT,
    PRIMARY KEY (store_id, seq),
    UNIQUE (tenant_id, ledger_seq)
) WITHOUT ROWID;
-- Reports read sales only: a partial index costs nothing for the other (most) events.
CREATE INDEX events_sales_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'sale.completed';
CREATE INDEX events_quarantine ON events(tenant_id, ledger_seq) WHERE quarantine IS NOT NULL;
CREATE TABLE idempotency_keys (
    store_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    ack BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (store_id, key)
);
CREATE TABLE hq_tokens (
    token_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
    token_hash BLOB NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE TABLE changes (
    tenant_id TEXT NOT NULL,
    change_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    store_id TEXT,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, change_id)
);
CREATE TABLE hq_tax_classes (tenant_id TEXT, code TEXT, rate_ppm INTEGER NOT NULL,
                             PRIMARY KEY (tenant_id, code));
CREATE TABLE hq_skus (tenant_id TEXT, sku TEXT, product_id TEXT NOT NULL,
                      PRIMARY KEY (tenant_id, sku));
CREATE TABLE hq_barcodes (tenant_id TEXT, code TEXT, sku TEXT NOT NULL,
                          PRIMARY KEY (tenant_id, code));
CREATE TABLE hq_prices (
    tenant_id TEXT, sku TEXT, version INTEGER, amount_minor INTEGER NOT NULL,
    effective_at_ms INTEGER NOT NULL,
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

_INSERT_EVENTS = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                  f"({', '.join('?' * len(EVENT_COLUMNS))})")


class _SqliteTx(Tx):
    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql, tuple(args)).fetchall()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.executemany(sql, rows)


def open_connection(path: Path) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchall()[0][0]
    assert mode == "wal", f"could not enable WAL on {path}: {mode}"
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def migrate(conn: apsw.Connection) -> str:
    """Apply pending migrations (each in one transaction); returns the relay epoch."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = conn.execute("PRAGMA user_version").fetchall()[0][0]
        if current > LATEST_VERSION:
            raise RuntimeError(f"relay database schema {current} is newer than this build "
                               f"({LATEST_VERSION})")
        for version, _title, sql in MIGRATIONS:
            if version <= current:
                continue
            conn.execute(sql)
            if version == 1:
                # The epoch is born with the database: a cursor from any other database is
                # recognisably foreign.
                conn.execute("INSERT INTO meta (key, value) VALUES ('relay_epoch', ?)",
                             (secrets.token_hex(8),))
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         (f"migration.{version}.applied_at_ms", str(time.time_ns() // 1_000_000)))
        epoch = conn.execute("SELECT value FROM meta WHERE key = 'relay_epoch'").fetchall()[0][0]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return epoch


class SqliteStorage(Storage):
    backend = "sqlite"

    def __init__(self, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # How long a writer waits for SQLite's write lock before the request answers 503.
        self.busy_timeout_ms = busy_timeout_ms
        self.path = path
        self.url = f"sqlite:///{path}"
        self._local = threading.local()
        self._all: list[apsw.Connection] = []
        self._lock = threading.Lock()
        self._in_flight = InFlight()
        self.epoch = migrate(self._conn())

    def _conn(self) -> apsw.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = open_connection(self.path)
            with self._lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[Tx]:
        conn = self._conn()
        conn.set_busy_timeout(self.busy_timeout_ms)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteTx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[Tx]:
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for every statement of the read
        try:
            yield _SqliteTx(conn)
        finally:
            conn.execute("COMMIT")

    def _insert_events(self, tx: Tx, rows: list[tuple]) -> None:
        tx.many(_INSERT_EVENTS, rows)

    @contextlib.contextmanager
    def _write_holding(self, scope: str, key: str) -> Iterator[Tx]:
        # Held before BEGIN IMMEDIATE: a second request queued on SQLite's write lock would
        # otherwise find the key only after the first committed, never in flight.
        with self._in_flight.hold(scope, key), self._write() as tx:
            yield tx

    def hold_key(self, scope: str, key: str) -> contextlib.AbstractContextManager[None]:
        return self._in_flight.hold(scope, key)

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
