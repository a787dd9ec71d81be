"""The relay as a real process: an ack means committed, so `kill -9` at any point loses no
acked event and leaves no half-stored batch; after a restart the store resumes from the
watermark and the ledger ends equal to its log."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from cloud_relay import admin
from cloud_relay.storage import open_storage
from schemas.sync import BatchAck, StoreWatermark
from tests.cloud_relay.conftest import skip_without_pg
from tests.support.relay import (
    BACKENDS,
    Chain,
    RelayProcess,
    StoreClient,
    database_url,
    drop_pg_schema,
)

EVENTS, PER_BATCH = 600, 20


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_kill9_mid_stream_loses_no_acked_event(backend: str, tmp_path: Path) -> None:
    skip_without_pg(backend)
    url = database_url(backend, tmp_path)
    storage = open_storage(url)
    cred = admin.enroll_store(storage, "t1", "s1", int(time.time() * 1000))
    storage.close()
    relay = RelayProcess(url, tmp_path / "relay.log").start()
    chain = Chain("t1", "s1")
    chain.extend(EVENTS)
    rng = random.Random(5)
    acked = 0
    try:
        for _round in range(3):
            client = StoreClient(relay.url, cred)
            stop = threading.Event()
            progress: list[int] = []

            def upload(client: StoreClient, stop: threading.Event, progress: list[int],
                       high: int) -> None:
                while not stop.is_set() and high < EVENTS:
                    try:
                        resp = client.upload(
                            chain.batch(high + 1, min(EVENTS, high + PER_BATCH)))
                    except httpx.HTTPError:
                        return  # the relay died under us
                    if resp.status_code != 200:
                        return
                    high = msgspec.json.decode(resp.content, type=BatchAck).accepted_through_seq
                    progress.append(high)

            thread = threading.Thread(target=upload, args=(client, stop, progress, acked))
            thread.start()
            time.sleep(rng.uniform(0.05, 0.4))  # a random point in the stream, not an assertion
            relay.kill9()
            stop.set()
            thread.join(timeout=30)
            client.close()
            acked = max(progress, default=acked)
            relay.start()
            client = StoreClient(relay.url, cred)
            mark = msgspec.json.decode(client.get("/v1/stores/s1/watermark").content,
                                       type=StoreWatermark)
            client.close()
            # Everything acked survived; anything beyond was committed whole or not at all.
            assert mark.high_seq >= acked
            assert mark.high_seq % PER_BATCH == 0 or mark.high_seq == EVENTS
            assert mark.last_hash_hex == chain.log[mark.high_seq - 1].hash.hex()
            acked = mark.high_seq
        client = StoreClient(relay.url, cred)
        while acked < EVENTS:
            resp = client.upload(chain.batch(acked + 1, min(EVENTS, acked + PER_BATCH)))
            acked = msgspec.json.decode(resp.content, type=BatchAck).accepted_through_seq
        client.close()
    finally:
        relay.stop()
    storage = open_storage(url)
    try:
        rows = storage.store_events("s1")
        assert [(r.seq, r.hash) for r in rows] == [(e.seq, e.hash) for e in chain.log]
        assert [r.ledger_seq for r in storage.ledger("t1", 0, EVENTS + 1)] == list(
            range(1, EVENTS + 1))
    finally:
        storage.close()
        if backend == "postgresql":
            drop_pg_schema(url)
