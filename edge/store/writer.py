"""The one writer: every write to the store database goes through here.

Commands (functions of a `Tx`) are executed in batches: each inside its own SAVEPOINT of one
transaction, then one COMMIT for the batch (group commit). With WAL + synchronous=FULL that
commit returns only after the fsync, and only then is any command of the batch answered:
nothing is acknowledged before it is on disk. A command that raises is rolled back to its
savepoint alone; the others commit. If the commit itself fails, every command of the batch
fails and nothing of it was stored.

In the daemon, batching runs as a task on the event loop (`serve`): handlers queue commands
and await them; the task takes everything queued since its last turn. Commands and the commit
run on the loop thread itself: a second Python thread would fight the loop for the GIL on each
of the dozen SQLite calls a command makes, which cost far more than the sub-millisecond fsync
the loop now waits for. Tools without a loop (CLI, tests) call `run_sync`; a lock keeps the
connection to one thread at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import apsw
import structlog

from core import chain
from core.business_day import business_date
from core.clock import Clock
from core.ids import uuid7
from edge.errors import StoreUnavailable
from edge.store import eventlog
from edge.store.db import open_connection
from edge.store.projector import Projector
from schemas.envelope import Event
from schemas.events import EventBody, encode_body

log = structlog.get_logger("novapos.store")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoreIdentity:
    tenant_id: str
    store_id: str
    tz: ZoneInfo
    day_close_hour: int


_FORGOTTEN = object()
# Entries the memo keeps between batches, least recently used evicted first. A store's live
# set is its open carts (a few per lane), the catalog, the fiscal numbers and the promotions
# book: far below this. Each entry is small (a cart is a few kB), so the bound keeps the memo
# to a few MB however many sales a day brings; an evicted value is read again from the
# database when next needed (it was only ever a copy).
MEMO_MAX_ENTRIES = 1_000


class Memo:
    """What the one writer remembers of committed state between commands (open carts, the
    catalog), so that a command need not read it back from the database each time.

    It is transactional like the database under it: what a command puts is seen by the later
    commands of its batch once it succeeded, and by later batches once the batch committed; a
    failed command's or a failed batch's puts vanish. Values are read-only once put (a command
    that changes one puts a new value). It is wiped when another connection changed the
    database (SQLite's `data_version`), so a CLI import never leaves it stale. What a value
    means and when it is still true is the putting domain's business (e.g. a cart carries the
    version of the cart row it was folded up to).
    """

    def __init__(self) -> None:
        self._committed: dict[Any, Any] = {}
        self._batch: dict[Any, Any] = {}
        self._command: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        for layer in (self._command, self._batch):
            if key in layer:
                value = layer[key]
                return None if value is _FORGOTTEN else value
        committed = self._committed
        value = committed.pop(key, None)
        if value is not None:
            committed[key] = value  # most recently used last: the bound evicts from the front
        return value

    def put(self, key: Any, value: Any) -> None:
        self._command[key] = value

    def forget(self, key: Any) -> None:
        self._command[key] = _FORGOTTEN

    # --- the writer's side ---------------------------------------------------------------

    def command_done(self, ok: bool) -> None:
        if ok:
            self._batch.update(self._command)
        self._command = {}

    def batch_done(self, committed: bool) -> None:
        if committed:
            kept = self._committed
            for key, value in self._batch.items():
                kept.pop(key, None)
                if value is not _FORGOTTEN:
                    kept[key] = value
            # The bound: least recently used entries go first. What a domain leaves behind
            # (a cart remembered open, then completed by a command that does not forget it)
            # ages out here instead of staying until the memo is full.
            for key in list(itertools.islice(kept, max(0, len(kept) - MEMO_MAX_ENTRIES))):
                del kept[key]
        else:
            self._committed.clear()  # what the failed batch read may not be true any more
        self._batch = {}
        self._command = {}

    def clear(self) -> None:
        self._committed.clear()


@dataclass(slots=True)
class Tx:
    """What a command sees: the connection inside its savepoint, `append`, and the writer's
    `memo` of committed state."""

    conn: apsw.Connection
    identity: StoreIdentity
    projector: Projector
    now_ms: int
    head_seq: int
    head_hash: bytes
    memo: Memo
    appended: list[Event] = field(default_factory=list)
    business_date: str = ""
    # Called after every append, inside the same savepoint (`Writer.sealer`).
    sealer: Callable[[Tx, Event, EventBody], None] | None = None

    @property
    def store_id(self) -> str:
        return self.identity.store_id

    def __post_init__(self) -> None:
        # One clock reading per batch, so one business date for all of its events.
        self.business_date = business_date(self.now_ms, self.identity.tz, self.identity.day_close_hour)

    def append(self, body: EventBody, *, stream: str, lane_id: str | None) -> Event:
        seq = self.head_seq + 1
        data = encode_body(body)
        fields = dict(
            seq=seq, event_id=uuid7(), tenant_id=self.identity.tenant_id,
            store_id=self.identity.store_id, lane_id=lane_id, stream=stream, type=body.TYPE,
            schema_version=body.SCHEMA_VERSION, recorded_at_ms=self.now_ms,
            business_date=self.business_date, body=data,
        )
        digest = chain.chain_hash(self.head_hash, **fields)
        stored = Event(**fields, prev_hash=self.head_hash, hash=digest)
        eventlog.insert(self.conn, stored)
        self.projector.apply(self.conn, stored, body)
        self.head_seq, self.head_hash = seq, digest
        self.appended.append(stored)
        if self.sealer is not None:
            self.sealer(self, stored, body)
        return stored

    @contextlib.contextmanager
    def nested(self) -> Iterator[None]:
        """A savepoint inside the command: if the block raises, what it did (rows and the
        events it appended) is rolled back and the exception propagates; the command goes on
        if its caller handles it. E.g. a receipt job that cannot be queued must not cost the
        sale; one bad down-sync change must not sink its neighbours."""
        saved = (self.head_seq, self.head_hash, len(self.appended))
        self.conn.execute("SAVEPOINT nested")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO nested")
            self.conn.execute("RELEASE nested")
            self.head_seq, self.head_hash = saved[0], saved[1]
            del self.appended[saved[2]:]
            raise
        self.conn.execute("RELEASE nested")


@dataclass(slots=True)
class _Command:
    fn: Callable[[Tx], Any]
    future: asyncio.Future | None


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
        self, db_path: Path, identity: StoreIdentity, clock: Clock, projector: Projector, *,
        max_batch: int = 256,
        on_commit: Callable[[int, float, list[Event]], None] | None = None,
    ) -> None:
        assert max_batch >= 1
        self._db_path = db_path
        self._identity = identity
        self._clock = clock
        self._projector = projector
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._conn: apsw.Connection | None = None
        self._lock = threading.Lock()
        self.memo = Memo()
        # The head after our last commit, valid while no other connection wrote (data_version).
        self._head: tuple[int, bytes] | None = None
        self._data_version: int | None = None
        self._pending: list[_Command] = []
        self._wakeup: asyncio.Event | None = None
        # What runs after each append in the same transaction and may append in turn (the
        # fiscal journal signs an event in its own commit, so no signature is ever missing or
        # numbered twice, whatever a crash interrupts). Set at composition; the store knows no
        # domain.
        self.sealer: Callable[[Tx, Event, EventBody], None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        assert self._conn is None, "writer already open"
        self._conn = open_connection(self._db_path)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def serve(self) -> None:
        """The batching task. Runs until cancelled; queued commands then fail cleanly."""
        self._wakeup = asyncio.Event()
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                await asyncio.sleep(0)  # let requests that are already runnable join the batch
                while self._pending:
                    batch = self._pending[: self._max_batch]
                    del self._pending[: len(batch)]
                    for cmd, (ok, value) in zip(batch, self._execute(batch)):
                        fut = cmd.future
                        if fut is None or fut.done():  # the client went away; the effect stands
                            continue
                        if ok:
                            fut.set_result(value)
                        else:
                            fut.set_exception(value)
        finally:
            self._wakeup = None
            pending, self._pending = self._pending, []
            for cmd in pending:
                if cmd.future is not None and not cmd.future.done():
                    cmd.future.set_exception(StoreUnavailable("the store writer stopped"))

    # --- submitting ----------------------------------------------------------------------

    async def run(self, fn: Callable[[Tx], T]) -> T:
        if self._wakeup is None:
            raise StoreUnavailable("the store writer is not running")
        fut = asyncio.get_running_loop().create_future()
        self._pending.append(_Command(fn, fut))
        self._wakeup.set()
        return await fut

    def run_sync(self, fn: Callable[[Tx], T]) -> T:
        ok, value = self._execute([_Command(fn, None)])[0]
        if not ok:
            raise value
        return value

    # --- executing a batch ---------------------------------------------------------------

    def _execute(self, batch: list[_Command]) -> list[tuple[bool, Any]]:
        with self._lock:
            conn = self._conn
            if conn is None:
                return [(False, StoreUnavailable("the store writer is closed"))] * len(batch)
            return self._transaction(conn, batch)

    def _transaction(self, conn: apsw.Connection, batch: list[_Command]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        started = time.perf_counter()
        tx: Tx | None = None
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Inside the write lock: has another process (the CLI) written since our last
            # commit? Then the head and the memo are read afresh.
            version = conn.execute("PRAGMA data_version").fetchall()[0][0]
            if version != self._data_version or self._head is None:
                self._head = eventlog.head(conn)
                self.memo.clear()
                self._data_version = version
            seq, digest = self._head
            tx = Tx(conn, self._identity, self._projector, self._clock.now_ms(), seq, digest,
                    self.memo, sealer=self.sealer)
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
                    self.memo.command_done(False)
                    outcomes.append((False, _deliverable(exc)))
                else:
                    conn.execute("RELEASE command")
                    self.memo.command_done(True)
                    outcomes.append((True, result))
            conn.execute("COMMIT")
        except apsw.Error as exc:
            log.error("store commit failed, batch rolled back", commands=len(batch), error=str(exc))
            with contextlib.suppress(apsw.Error):
                if not conn.getautocommit():
                    conn.execute("ROLLBACK")
            self.memo.batch_done(False)
            self._head = None
            failure = StoreUnavailable(f"the store database refused the write: {exc}")
            return [(False, failure)] * len(batch)
        self.memo.batch_done(True)
        self._head = (tx.head_seq, tx.head_hash)
        if self._on_commit is not None:
            self._on_commit(len(batch), time.perf_counter() - started, tx.appended)
        return outcomes
