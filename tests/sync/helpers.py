"""Shared pieces of the sync tests: run a coroutine, a store with N sales, an engine."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx

from core.signing import StoreCredential, new_credential
from edge.compose import appliers
from edge.store.db import open_connection
from edge.sync_link import StoreLink
from sync.engine import SyncEngine
from sync.metrics import SyncMetrics
from sync.settings import SyncConfig
from tests.support.store import TestStore
from tests.support.sync_store import SaleFactory, make_service

TENANT, STORE = "demo-tenant", "store-001"


def run(coro):
    return asyncio.run(coro)


def credential() -> StoreCredential:
    return new_credential(TENANT, STORE)


def store_with_sales(data_dir: Path, n: int, seed: int = 0) -> TestStore:
    """A stopped-then-started service with `n` sales appended via run_sync."""
    svc = make_service(data_dir)
    svc.start()
    f = SaleFactory(seed)
    done = 0
    while done < n:
        k = min(50, n - done)
        svc.writer.run_sync(f.command(k))
        done += k
    return svc


def engine(service: TestStore, cred: StoreCredential, *, relay_url: str = "http://relay.test",
           transport: httpx.AsyncBaseTransport | None = None, seed: int = 1,
           **settings) -> SyncEngine:
    base = {"relay_url": relay_url, "backoff_base_s": 0.01, "backoff_cap_s": 0.05,
                "poll_interval_s": 0.05, "request_timeout_s": 10.0}
    base.update(settings)
    return SyncEngine(
        store=StoreLink(service, appliers()), settings=SyncConfig(**base), credential=cred,
        metrics=SyncMetrics.of(service.metrics.registry), rng=random.Random(seed),
        transport=transport,
    )


def rows(service: TestStore, sql: str, args: tuple = ()) -> list[tuple]:
    conn = open_connection(service.db_path, readonly=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def metric(service: TestStore, name: str, labels: dict[str, str] | None = None) -> float:
    value = service.metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value
