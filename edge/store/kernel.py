"""The store kernel: one store's database, its one writer, a read connection, the idempotency
gate and the store's identity and clock. Every domain service is built on it; it knows none
of them (the projector it writes through is composed from the domains in `edge.compose`).

The CLI and the HTTP app both drive a store through this object and the domain functions;
it is the Python API twin of their commands. It holds no business rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import apsw

from core.clock import Clock, SystemClock
from edge import lanes
from edge.metrics import Metrics
from edge.store import eventlog, idempotency
from edge.store.db import DB_FILENAME, check_identity, open_connection, open_store, pending
from edge.store.idempotency import Gate
from edge.store.layout import Layout
from edge.store.settings import IdempotencyConfig, StoreConfig, WriterConfig
from edge.store.writer import StoreIdentity, Tx, Writer
from schemas.envelope import Event

CommitListener = Callable[[list[Event]], None]
# A readiness check that cannot stop the store from selling: "ok" or what is wrong.
AdvisoryCheck = Callable[[apsw.Connection], str]


@dataclass(frozen=True, slots=True)
class Readiness:
    """`ready`: the store can sell (database writable, schema current); `degraded`: it can,
    but an advisory check failed (e.g. its log's hash chain is broken) and an operator must
    look. `checks` holds every check's "ok" or problem; `advisory` names the advisory ones."""

    ready: bool
    checks: dict[str, str]
    degraded: bool = False
    advisory: frozenset[str] = frozenset()


class Store:
    def __init__(self, data_dir: Path, settings: StoreConfig, layout: Layout,
                 clock: Clock | None = None, *, writer: WriterConfig = WriterConfig(),
                 idempotency: IdempotencyConfig = IdempotencyConfig()) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.clock = clock or SystemClock()
        self.metrics = Metrics()
        s = settings
        self.identity = StoreIdentity(s.tenant_id, s.store_id, s.tz, s.day_close_hour)
        self._retention_ms = idempotency.retention_days * 86_400_000
        self.db_path = data_dir / DB_FILENAME
        # Migrations run once, before anything else touches the database.
        self.layout = layout
        conn = open_store(data_dir, layout.schema)
        try:
            check_identity(conn, {"tenant_id": s.tenant_id, "store_id": s.store_id,
                                  "currency": s.currency, "timezone": s.timezone})
        finally:
            conn.close()
        self._listeners: list[CommitListener] = []
        self.writer = Writer(self.db_path, self.identity, self.clock, layout.projector,
                             max_batch=writer.max_batch, on_commit=self._committed)
        self.gate = Gate(self.writer, lambda: self.reader,
                         on_replay=self.metrics.idempotent_replays_total.inc)
        self._reader: apsw.Connection | None = None
        self._advisory: dict[str, AdvisoryCheck] = {}

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.writer.open()
        self._reader = open_connection(self.db_path)
        self.metrics.event_log_head.set(eventlog.head(self._reader)[0])

    def stop(self) -> None:
        self.writer.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> apsw.Connection:
        """Read connection for the event-loop thread; WAL gives it a consistent snapshot."""
        assert self._reader is not None, "store not started"
        return self._reader

    def on_commit(self, listener: CommitListener) -> None:
        """`listener(appended)` runs on the committing thread after every commit: keep it
        cheap (wake a worker, count)."""
        self._listeners.append(listener)

    def _committed(self, commands: int, seconds: float, appended: list[Event]) -> None:
        m = self.metrics
        m.commit_batch_size.observe(commands)
        m.commit_seconds.observe(seconds)
        for stored in appended:
            m.events_total.labels(stored.type).inc()
            if stored.type == "sale.completed":
                m.sales_total.inc()
        if appended:
            m.event_log_head.set(appended[-1].seq)
        for listener in self._listeners:
            listener(appended)

    # --- lanes ---------------------------------------------------------------------------

    def authenticate(self, token: str) -> lanes.Principal | None:
        return lanes.authenticate(self.reader, token)

    def enroll_lane(self, lane_id: str, role: lanes.Role) -> lanes.Enrollment:
        conn = open_connection(self.db_path)
        try:
            return lanes.enroll(
                conn, tenant_id=self.identity.tenant_id, store_id=self.identity.store_id,
                lane_id=lane_id, role=role, now_ms=self.clock.now_ms(),
            )
        finally:
            conn.close()

    # --- health --------------------------------------------------------------------------

    def add_advisory_check(self, name: str, check: AdvisoryCheck) -> None:
        """A readiness check that reports without making the store unready (run on the read
        connection: keep it a cheap query)."""
        self._advisory[name] = check

    async def readiness(self) -> Readiness:
        checks: dict[str, str] = {}
        try:
            behind = pending(self.reader, self.layout.schema)
            checks["migrations"] = "ok" if not behind else f"pending: {', '.join(behind)}"
        except apsw.Error as exc:
            checks["migrations"] = f"unreadable: {exc}"
        try:
            await self.writer.run(lambda tx: tx.conn.execute("SELECT 1").fetchall())
            checks["database_writable"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["database_writable"] = f"failed: {exc}"
        ready = all(v == "ok" for v in checks.values())
        for name, check in self._advisory.items():
            try:
                checks[name] = check(self.reader)
            except apsw.Error as exc:
                checks[name] = f"unreadable: {exc}"
        degraded = any(checks[name] != "ok" for name in self._advisory)
        return Readiness(ready, checks, degraded, frozenset(self._advisory))

    def _prune_command(self) -> Callable[[Tx], int]:
        return lambda tx: idempotency.prune(tx.conn, tx.now_ms - self._retention_ms)

    def prune_idempotency_keys(self) -> int:
        return self.writer.run_sync(self._prune_command())

    async def prune_idempotency_keys_async(self) -> int:
        return await self.writer.run(self._prune_command())
