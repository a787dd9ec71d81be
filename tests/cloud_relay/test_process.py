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

from cloud_relay.storage import open_storage
from schemas.sync import BatchAck, StoreWatermark
from tests.support.relay import (
    BACKENDS,
    Chain,
    RelayProcess,
    StoreClient,
    database_url,
    drop_pg_schema,
    skip_without_pg,
)

EVENTS, PER_BATCH = 1_000, 20


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_kill9_mid_stream_loses_no_acked_event(backend: str, tmp_path: Path) -> None:
    skip_without_pg(backend)
    url = database_url(backend, tmp_path)
    relay = RelayProcess(url, tmp_path / "relay.log")
    cred = relay.enroll("t1", "s1")
    relay.start()
    chain = Chain("t1", "s1")
    chain.extend(EVENTS)
    rng = random.Random(5)
    acked = 0
    try:
        for _round in range(5):
            client = StoreClient(relay.url, cred)
            stop, reached = threading.Event(), threading.Event()
            progress: list[int] = []
            kill_after_acks = rng.randint(1, 6)

            def upload(client: StoreClient, stop: threading.Event, reached: threading.Event,
                       progress: list[int], high: int, kill_after_acks: int) -> None:
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
                    if len(progress) >= kill_after_acks:
                        reached.set()

            thread = threading.Thread(target=upload, args=(client, stop, reached, progress,
                                                           acked, kill_after_acks))
            thread.start()
            assert reached.wait(timeout=60), "the uploader made no progress"
            # Kill while the next batch is on its way: before, during or after its commit.
            time.sleep(rng.uniform(0, 0.02))
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
    storage = relay.open_storage()
    try:
        rows = storage.store_events("t1", "s1")
        assert [(r.seq, r.hash) for r in rows] == [(e.seq, e.hash) for e in chain.log]
        assert [r.ledger_seq for r in storage.ledger("t1", 0, EVENTS + 1)] == list(
            range(1, EVENTS + 1))
    finally:
        storage.close()
        if backend == "postgresql":
            drop_pg_schema(url)
