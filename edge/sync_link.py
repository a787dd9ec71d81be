"""The store daemon composes the sync engine: the store as `sync.port.StorePort`, the engine
a daemon runs (or none, when sync is not configured), the foreground drain of `sync now`.

A store without a relay URL or a credential runs fine offline forever; a broken credential or
CA file must not stop it from selling either (logged, sync not started).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import TypeVar

import apsw
import msgspec
import structlog

from edge.store.db import open_connection
from edge.store.kernel import Store
from schemas.sync_status import SyncStatus
from sync.engine import SyncEngine, load_credential, resolve
from sync.foreground import drain
from sync.metrics import SyncMetrics
from sync.port import ChangeApplier, StoreTx
from sync.settings import SyncConfig
from sync.status import sync_status

T = TypeVar("T")
log = structlog.get_logger("novapos.sync")


class StoreLink:
    """`sync.port.StorePort` over the store kernel."""

    def __init__(self, store: Store, appliers: Mapping[str, ChangeApplier]) -> None:
        self._store = store
        self.tenant_id = store.identity.tenant_id
        self.store_id = store.identity.store_id
        self.db_path = store.db_path
        self.clock = store.clock
        self.appliers = appliers

    async def write(self, command: Callable[[StoreTx], T]) -> T:
        return await self._store.writer.run(command)

    def open_reader(self) -> apsw.Connection:
        return open_connection(self.db_path, readonly=True)


def engine_for(store: Store, settings: SyncConfig,
               appliers: Mapping[str, ChangeApplier]) -> SyncEngine | None:
    """The engine a daemon runs, or None when sync is not configured or unusable."""
    if not settings.relay_url:
        return None
    cred_path = resolve(store.data_dir, settings.credential_file)
    if not cred_path.exists():
        log.warning("sync not started: no credential", path=str(cred_path),
                    hint="novapos-edge sync enroll --credential FILE")
        return None
    ca = str(resolve(store.data_dir, settings.tls_ca_file)) if settings.tls_ca_file else None
    try:
        return SyncEngine(
            store=StoreLink(store, appliers), settings=settings,
            credential=load_credential(cred_path),
            metrics=SyncMetrics.of(store.metrics.registry), ca_file=ca,
        )
    except (OSError, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error("sync not started: unusable sync settings", error=str(exc),
                  credential=str(cred_path), tls_ca_file=ca)
        return None


def status(store: Store, settings: SyncConfig, engine: SyncEngine | None = None,
           conn: apsw.Connection | None = None) -> SyncStatus:
    """The store's sync state; `conn` defaults to a read-only connection of its own."""
    own = conn is None
    conn = conn or open_connection(store.db_path, readonly=True)
    try:
        return sync_status(conn, store.data_dir, settings, store.identity.store_id, engine)
    finally:
        if own:
            conn.close()


def drain_once(store: Store, settings: SyncConfig, appliers: Mapping[str, ChangeApplier], *,
               timeout_s: float) -> SyncStatus:
    """`sync now` on a stopped store: the writer task and the engine's rounds on a loop of
    their own, until the relay holds the whole log."""

    async def main() -> None:
        engine = engine_for(store, settings, appliers)
        if engine is None:
            raise RuntimeError("sync is not configured: set [sync] relay_url and run "
                               "`novapos-edge sync enroll --credential FILE`")
        writer_task = asyncio.create_task(store.writer.serve())
        try:
            await drain(engine, timeout_s=timeout_s)
        finally:
            writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer_task

    store.start()
    try:
        asyncio.run(main())
        return status(store, settings, conn=store.reader)
    finally:
        store.stop()
