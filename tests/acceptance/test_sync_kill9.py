"""Fault proof with real processes: the edge daemon (`novapos-edge serve`) and the relay
(`novapos-relay serve`) are each `kill -9`'d at seeded random moments while lanes ring sales
through the store's HTTP API and the daemon's sync engine uploads in the background. After
both are back and the network is quiet, the relay holds exactly the store's log (same events,
same order, chain verified on the relay's copy, reconciliation equal to the Z report), for
both storage backends."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from cloud_relay import admin
from cloud_relay.storage import open_storage
from edge.store.db import DB_FILENAME, open_connection
from tests.cloud_relay.conftest import skip_without_pg
from tests.support.daemon import DaemonProcess
from tests.support.relay import BACKENDS, RelayProcess, database_url, drop_pg_schema
from tests.support.sync_proof import assert_converged

pytestmark = pytest.mark.slow

TENANT, STORE = "demo-tenant", "store-001"
CONVERGE_TIMEOUT_S = 120.0
SCHEDULES = (11, 12)


def _ring_sale(client: httpx.Client, rng: random.Random) -> None:
    """One sale through the API; a kill in the middle just loses it (the test does not care
    which sales exist, only that the relay ends up with whatever the store has)."""
    key = f"k-{rng.getrandbits(64)}"
    r = client.post("/v1/carts", json={}, headers={"Idempotency-Key": key + "-o"})
    cart = r.json()["cart_id"]
    for i in range(rng.randint(1, 3)):
        client.post(f"/v1/carts/{cart}/lines", json={"sku": rng.choice(
            ("MILK-1L", "BREAD-500G"))}, headers={"Idempotency-Key": f"{key}-l{i}"})
    client.post(f"/v1/carts/{cart}/tenders", json={"tender_type": "cash",
                                                   "amount_minor": 5000},
                headers={"Idempotency-Key": key + "-t"})
    client.post(f"/v1/carts/{cart}/complete", json={}, headers={"Idempotency-Key": key + "-c"})


def _ring(daemon: DaemonProcess, rng: random.Random, sales: int) -> None:
    with daemon.client() as c:
        for _ in range(sales):
            try:
                _ring_sale(c, rng)
            except (httpx.HTTPError, KeyError, ValueError):
                return


def _acked_and_head(data_dir: Path) -> tuple[int, int]:
    conn = open_connection(data_dir / DB_FILENAME, readonly=True)
    try:
        acked = conn.execute("SELECT acked_seq FROM sync_state").fetchall()[0][0]
        head = conn.execute("SELECT max(seq) FROM events").fetchall()[0][0] or 0
        return acked, head
    finally:
        conn.close()


@pytest.mark.timeout(400)
@pytest.mark.parametrize("seed", SCHEDULES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_kill9_edge_and_relay_converge(backend: str, seed: int, tmp_path: Path) -> None:
    skip_without_pg(backend)
    rng = random.Random(seed)
    url = database_url(backend, tmp_path)
    relay = RelayProcess(url, tmp_path / "relay.log")
    storage = relay.open_storage()
    cred = admin.enroll_store(storage, TENANT, STORE, int(time.time() * 1000))
    relay.start()
    data = tmp_path / "store"
    data.mkdir()
    (data / "sync-credential.json").write_bytes(msgspec.json.encode(cred))
    daemon = DaemonProcess(data, extra_env={
        "NOVAPOS_SYNC__RELAY_URL": relay.url, "NOVAPOS_SYNC__BACKOFF_BASE_S": "0.05",
        "NOVAPOS_SYNC__BACKOFF_CAP_S": "0.5", "NOVAPOS_SYNC__POLL_INTERVAL_S": "0.05",
        "NOVAPOS_SYNC__MAX_BATCH_EVENTS": str(rng.choice((5, 20, 100))),
    }).start()
    try:
        for _step in range(4):
            _ring(daemon, rng, rng.randint(3, 8))
            victim = rng.choice(("edge", "relay", "both"))
            time.sleep(rng.uniform(0, 0.3))  # let the engine get into the middle of a round
            if victim in ("relay", "both"):
                relay.kill9()
            if victim in ("edge", "both"):
                daemon.kill9()
            if victim in ("edge", "both"):
                daemon.start()
            if victim == "edge" or rng.random() < 0.5:
                _ring(daemon, rng, rng.randint(1, 4))  # sales while the relay is down
            if victim in ("relay", "both"):
                relay.start()  # same port and database
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while (state := _acked_and_head(data))[0] < state[1]:
            assert time.monotonic() < deadline, (
                f"not converged: acked/head {state}\n{daemon.log_tail()}")
            time.sleep(0.1)
        n = assert_converged(storage, data / DB_FILENAME, TENANT, STORE)
        assert n > 20
    finally:
        daemon.stop()
        relay.stop()
        storage.close()
        if backend == "postgresql":
            drop_pg_schema(url)
