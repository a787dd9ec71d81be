"""The one writer: every write to the store database goes through here.

A single thread owns the write connection. Requests queue up as commands; the thread takes
up to `max_batch` of them, runs each inside its own SAVEPOINT of one transaction, and commits
once (group commit). With WAL + synchronous=FULL that commit returns only after the fsync, and
only then is any command in the batch answered: nothing is acknowledged before it is on disk.
A command that raises is rolled back to its savepoint alone; the others in the batch commit.
If the commit itself fails, every command of the batch fails and nothing of it was stored.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import apsw

from edge.business_day import business_date
from edge.clock import Clock
from edge.errors import StoreUnavailable
from edge.ids import uuid7
from edge.store import eventlog, projections
from edge.store.db import open_connection
from edge.store.eventlog import StoredEvent
from schemas.events import EventBody, encode_body

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoreIdentity:
    tenant_id: str
    store_id: str
    tz: ZoneInfo
    day_close_hour: int


@dataclass(slots=True)
class Tx:
    """What a command sees: the connection inside its savepoint, and `append`."""

    conn: apsw.Connection
    identity: StoreIdentity
    now_ms: int
    head_seq: int
    head_hash: bytes
    appended: list[StoredEvent] = field(default_factory=list)

    def append(self, body: EventBody, *, stream: str, lane_id: str | None) -> StoredEvent:
        seq = self.head_seq + 1
        data = encode_body(body)
        fields = dict(
            seq=seq, event_id=uuid7(), tenant_id=self.identity.tenant_id,
            store_id=self.identity.store_id, lane_id=lane_id, stream=stream, type=body.TYPE,
            schema_version=body.SCHEMA_VERSION, recorded_at_ms=self.now_ms,
            business_date=business_date(self.now_ms, self.identity.tz, self.identity.day_close_hour),
            body=data,
        )
        digest = eventlog.chain_hash(self.head_hash, **fields)
        stored = StoredEvent(**fields, prev_hash=self.head_hash, hash=digest)
        eventlog.insert(self.conn, stored)
        projections.apply(self.conn, stored, body)
        self.head_seq, self.head_hash = seq, digest
        self.appended.append(stored)
        return stored


@dataclass(slots=True)
class _Command:
    fn: Callable[[Tx], Any]
    future: Future
    enqueued_ns: int


_STOP = object()


def _deliverable(exc: BaseException) -> BaseException:
    """An exception a waiting asyncio future can carry. StopIteration (and other non-Exception
    BaseExceptions) cannot be set on a future: the waiter would hang forever."""
    if isinstance(exc, StopIteration) or not isinstance(exc, Exception):
        wrapped = RuntimeError(f"store command raised {type(exc).__name__}: {exc}")
        wrapped.__cause__ = exc
        return wrapped
    return exc


class Writer:
    def __init__(
        self, db_path: Path, identity: StoreIdentity, clock: Clock, *, max_batch: int = 256,
        on_commit: Callable[[int, float, list[StoredEvent]], None] | None = None,
    ) -> None:
        assert max_batch >= 1
        self._db_path = db_path
        self._identity = identity
        self._clock = clock
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: apsw.Connection | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        assert self._thread is None, "writer already started"
        self._conn = open_connection(self._db_path)
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
        assert self._conn is not None
        self._conn.close()
        self._conn = None

    # --- submitting ----------------------------------------------------------------------

    def submit(self, fn: Callable[[Tx], T]) -> "Future[T]":
        if self._thread is None:
            raise StoreUnavailable("the store writer is not running")
        fut: Future = Future()
        self._queue.put(_Command(fn, fut, time.perf_counter_ns()))
        return fut

    async def run(self, fn: Callable[[Tx], T]) -> T:
        return await asyncio.wrap_future(self.submit(fn))

    def run_sync(self, fn: Callable[[Tx], T]) -> T:
        return self.submit(fn).result()

    # --- the thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._queue.put(_STOP)  # finish this batch, then stop
                    break
                batch.append(nxt)
            self._execute(batch)

    def _execute(self, batch: list[_Command]) -> None:
        conn = self._conn
        assert conn is not None
        outcomes: list[tuple[bool, Any]] = []
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Read the head inside the write lock: another process (the CLI) may have appended.
            seq, digest = eventlog.head(conn)
            tx = Tx(conn, self._identity, self._clock.now_ms(), seq, digest)
            for cmd in batch:
                saved = (tx.head_seq, tx.head_hash, len(tx.appended))
                conn.execute("SAVEPOINT command")
                try:
                    result = cmd.fn(tx)
                except BaseException as exc:  # noqa: BLE001 - a failing command must not sink the batch
                    conn.execute("ROLLBACK TO command")
                    conn.execute("RELEASE command")
                    tx.head_seq, tx.head_hash = saved[0], saved[1]
                    del tx.appended[saved[2]:]
                    outcomes.append((False, _deliverable(exc)))
                else:
                    conn.execute("RELEASE command")
                    outcomes.append((True, result))
            conn.execute("COMMIT")
        except apsw.Error as exc:
            log.error("store commit failed, batch of %d rolled back: %s", len(batch), exc)
            if not conn.getautocommit():
                conn.execute("ROLLBACK")
            failure = StoreUnavailable(f"the store database refused the write: {exc}")
            outcomes = [(False, failure)] * len(batch)
            tx = None
        if tx is not None and self._on_commit is not None:
            self._on_commit(len(batch), time.perf_counter() - started, tx.appended)
        for cmd, (ok, value) in zip(batch, outcomes):
            if ok:
                cmd.future.set_result(value)
            else:
                cmd.future.set_exception(value)
