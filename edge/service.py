"""The store service: one object that owns a store's database, writer, reader and metrics.

The HTTP app and the CLI both drive a store through this class; it is the Python API twin of
every command. It holds no business rules itself: those live in `carts`, `orders`, `catalog`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import apsw

from edge import lanes
from edge.carts import Policy
from core.clock import Clock, SystemClock
from edge.config import Config
from edge.metrics import Metrics
from edge.printing.service import PrintService
from edge.store import eventlog, idempotency
from edge.store.db import DB_FILENAME, open_connection, open_store, schema_version
from schemas.envelope import Event
from edge.store.migrations import LATEST_VERSION
from edge.store.writer import StoreIdentity, Tx, Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[str, str]


class StoreService:
    def __init__(self, data_dir: Path, config: Config, clock: Clock | None = None) -> None:
        self.data_dir = data_dir
        self.config = config
        self.clock = clock or SystemClock()
        self.metrics = Metrics()
        s = config.store
        self.identity = StoreIdentity(s.tenant_id, s.store_id, s.tz, s.day_close_hour)
        self.policy = Policy(
            store_id=s.store_id, store_name=s.name, currency=s.currency, tax_mode=s.tax_mode,
            lock_ttl_ms=config.price_lock.ttl_s * 1000, on_expiry=config.price_lock.on_expiry,
            manager_threshold_bp=config.discounts.manager_threshold_bp,
            cash_increment_minor=config.tender.cash_rounding_minor,
            refund_manager_above_minor=config.tender.refund_manager_above_minor,
        )
        self.db_path = data_dir / DB_FILENAME
        # Migrations run once, before anything else touches the database.
        open_store(data_dir).close()
        self.writer = Writer(
            self.db_path, self.identity, self.clock, max_batch=config.writer.max_batch,
            on_commit=self._committed,
        )
        self._reader: apsw.Connection | None = None
        # Hardware layer: discovery, drivers, bindings, device stream, admin credential. Device
        # counters are persisted (edge.devices.statistics); the printers count into them too.
        from edge.devices.service import DeviceService
        from edge.devices.statistics import SqliteStatistics

        self.device_statistics = SqliteStatistics()
        self.printing = PrintService(
            config.printing, db_path=self.db_path, writer=self.writer, clock=self.clock,
            policy=self.policy, tz=s.tz, registry=self.metrics.registry,
            statistics=self.device_statistics,
        )
        # The sync engine (sync.engine.SyncEngine) while the app runs it; None when offline.
        self.sync_engine = None
        # Started by the app's lifespan (it needs the event loop and the writer task).
        self.devices = DeviceService(self)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.writer.open()
        self._reader = open_connection(self.db_path)
        self.metrics.event_log_head.set(eventlog.head(self._reader)[0])
        self.printing.start()

    def stop(self) -> None:
        self.printing.stop()
        self.writer.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> apsw.Connection:
        """Read connection for the event-loop thread; WAL gives it a consistent snapshot."""
        assert self._reader is not None, "service not started"
        return self._reader

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
        self.printing.committed(appended)

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

    async def readiness(self) -> Readiness:
        checks: dict[str, str] = {}
        try:
            version = schema_version(self.reader)
            checks["migrations"] = "ok" if version == LATEST_VERSION else f"at {version}, need {LATEST_VERSION}"
        except apsw.Error as exc:
            checks["migrations"] = f"unreadable: {exc}"
        try:
            await self.writer.run(lambda tx: tx.conn.execute("SELECT 1").fetchall())
            checks["database_writable"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["database_writable"] = f"failed: {exc}"
        return Readiness(all(v == "ok" for v in checks.values()), checks)

    def _prune_command(self) -> Callable[[Tx], int]:
        retention_ms = self.config.idempotency.retention_days * 86_400_000
        return lambda tx: idempotency.prune(tx.conn, tx.now_ms - retention_ms)

    def prune_idempotency_keys(self) -> int:
        return self.writer.run_sync(self._prune_command())

    async def prune_idempotency_keys_async(self) -> int:
        return await self.writer.run(self._prune_command())
