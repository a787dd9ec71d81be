"""SQLite backend (apsw): the zero-config default, one file in the relay's data directory.

WAL + synchronous=FULL: a batch's commit returns only after the WAL is fsynced, so an ack is
never sent for something a power cut could lose. Each thread has its own connection; writers
queue on SQLite's write lock (BEGIN IMMEDIATE), so idempotency keys in flight are tracked in
this process before the transaction starts (several processes on one SQLite file still never
double-store: the UNIQUE constraints and the completed-key table decide, one writer at a time).
Migrations (`storage.schema`, rendered for SQLite) are versioned by `PRAGMA user_version`.

Checkpoints run beside the writers, not inside their commits: a batch of a few thousand events
is several MiB of WAL, and SQLite's automatic checkpoint would copy it into the database file
and fsync that inside the COMMIT of the batch whose ack waits for it. A checkpointer thread
(`_Checkpointer`, its own connection) is woken after each write commit and runs a PASSIVE
checkpoint (it never blocks a writer or a reader); the automatic checkpoint stays on at a
larger size (`WAL_AUTOCHECKPOINT_PAGES`), so the WAL stays bounded if the thread falls behind.
Durability is unchanged: a COMMIT returns after the WAL is fsynced, whoever checkpoints later.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw

from cloud_relay.storage import schema
from cloud_relay.storage.backend import INSERT_COLUMNS, Tx
from cloud_relay.storage.base import Storage
from core.idempotency import InFlight
from core.migrations import SQLITE, Migration, render

BUSY_TIMEOUT_MS = 30_000
DB_FILENAME = "relay.db"
# Pages of a new relay database. A ledger row is the envelope with its canonical body (a sale:
# ~1.3 KB); in the WITHOUT ROWID events table a row larger than about a quarter of a page
# spills into an overflow page of its own, so at SQLite's default 4 KiB every sale row wrote
# two pages to the WAL. At 8 KiB rows up to ~2 KB stay in their b-tree page (measured: a third
# less CPU per ingested event, most of it the commit). Only a new file takes it: an existing
# database keeps its page size (changing it needs a VACUUM outside WAL mode).
PAGE_SIZE = 8192
# The committing connection checkpoints itself only past this many WAL pages (64 MiB at
# PAGE_SIZE; SQLite's default is 1,000): normally the checkpointer thread has run.
WAL_AUTOCHECKPOINT_PAGES = 8192

_INSERT_EVENTS = (f"INSERT INTO events ({', '.join(INSERT_COLUMNS)}) VALUES "
                  f"({', '.join('?' * len(INSERT_COLUMNS))})")


class _SqliteTx(Tx):
    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql, tuple(args)).fetchall()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.executemany(sql, rows)

    def script(self, sql: str) -> None:
        self.conn.execute(sql)


def open_connection(path: Path) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before the first write; else a no-op
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchall()[0][0]
    assert mode == "wal", f"could not enable WAL on {path}: {mode}"
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    return conn


class _Checkpointer:
    """Runs a PASSIVE checkpoint on its own connection after commits (`poke`), off the
    committing thread. Pokes that arrive while it runs coalesce into one more checkpoint."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.checkpoints = 0

    def poke(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stop:
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="relay-wal-checkpoint")
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        conn = open_connection(self._path)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except apsw.Error:  # busy or I/O: the next poke (or autocheckpoint) retries
                    pass
        finally:
            conn.close()

    def close(self) -> None:
        with self._start_lock:
            self._stop = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=30)


class _UserVersion:
    """`core.migrations.Target` for the relay's SQLite file: the version is `PRAGMA
    user_version` (transactional, like the DDL), applied inside the caller's transaction."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def current(self, component: str) -> int:
        assert component == schema.COMPONENT, component
        return self.tx.rows("PRAGMA user_version")[0][0]

    def apply(self, component: str, migration: Migration) -> None:
        self.tx.script(render(migration.sql, SQLITE))
        self.tx.rows(f"PRAGMA user_version={int(migration.version)}")
        schema.note_applied(self.tx, migration.version)


class SqliteStorage(Storage):
    backend = "sqlite"
    UNAVAILABLE = (apsw.BusyError, apsw.CantOpenError, apsw.IOError)

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
        self._checkpointer = _Checkpointer(path)
        # One BEGIN IMMEDIATE for every pending migration and the epoch: processes starting
        # together on one file take turns, and the later ones find the schema current.
        with self._write() as tx:
            self.epoch = schema.upgrade(tx, _UserVersion(tx))

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
        self._checkpointer.poke()

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

    def _hold_local(self, scope: str, key: str) -> contextlib.AbstractContextManager[None]:
        # Held before the upload queues for BEGIN IMMEDIATE: a second request queued on
        # SQLite's write lock would otherwise find the key only after the first committed.
        return self._in_flight.hold(scope, key)

    def hold_key(self, scope: str, key: str) -> contextlib.AbstractContextManager[None]:
        return self._in_flight.hold(scope, key)

    def close(self) -> None:
        self._checkpointer.close()
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
