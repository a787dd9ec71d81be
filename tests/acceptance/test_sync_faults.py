"""Fault proof: whatever the WAN does, the relay ends up with exactly the store's log.

Each schedule is seeded (the seed is in the test id, so a failure replays exactly): a store
rings sales while its sync engine uploads through the fault proxy (drops, delays, resets
mid-request, duplicated requests, answers lost after the relay committed, truncated answers),
with random batch limits, random "restarts" of the engine (its in-memory state thrown away, as
after a crash: it must resume from the persisted cursor) and, in some schedules, the relay
restarted on the same database. Then the proxy heals and the proof checks convergence:
same events (event_id, seq, bytes), same order, chain verified on the relay's copy, relay
reconciliation equal to the store's Z report. Both storage backends.

Real process kills (`kill -9` of the edge daemon and of the relay): `test_sync_kill9.py`.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from sync import cursor
from tests.cloud_relay.conftest import skip_without_pg
from tests.support.fault_proxy import FaultProxy, Schedule
from tests.support.relay import BACKENDS, start_relay
from tests.support.sync_proof import assert_converged
from tests.support.sync_store import SaleFactory, running_store
from tests.sync.helpers import TENANT, engine

SCHEDULES_PER_BACKEND = 150
HEAL_TIMEOUT_S = 60.0


@pytest.fixture(scope="module", params=BACKENDS)
def relay_box(request, tmp_path_factory):
    """One relay per backend for all its schedules (each schedule is its own store); a box so
    a schedule can restart it on the same database."""
    skip_without_pg(request.param)
    data = tmp_path_factory.mktemp(f"relay-{request.param}")
    box = {"relay": start_relay(request.param, data), "backend": request.param, "data": data}
    yield box
    box["relay"].close()


def _restart_relay(box) -> None:
    old = box["relay"]
    old.close(drop=False)
    box["relay"] = start_relay(box["backend"], box["data"], database=old.database_url)


async def _schedule(seed: int, box, tmp_path: Path) -> tuple[int, dict]:
    rng = random.Random(seed)
    store_id = f"store-{box['backend'][:2]}-{seed}"
    cred = box["relay"].enroll(TENANT, store_id)
    weights = {"pass": rng.randint(2, 8), "drop": rng.randint(0, 2), "delay": rng.randint(0, 2),
               "reset": rng.randint(0, 2), "duplicate": rng.randint(0, 2),
               "lose": rng.randint(0, 3), "truncate": rng.randint(0, 1)}
    relay_port = int(box["relay"].url.rsplit(":", 1)[1])
    proxy = FaultProxy("127.0.0.1", relay_port, Schedule(seed, weights, max_delay_s=0.02))
    await proxy.start()
    env = {"NOVAPOS_STORE__STORE_ID": store_id}
    sales = SaleFactory(seed, tag=f"x{seed}")
    restarted_relay = False
    async with running_store(tmp_path / "edge", env=env) as svc:

        def new_engine():
            return engine(svc, cred, relay_url=proxy.url, seed=rng.randrange(2**32),
                          max_batch_events=rng.choice((2, 5, 10, 25, 60)),
                          backoff_base_s=0.002, backoff_cap_s=0.03, poll_interval_s=0.01,
                          request_timeout_s=10.0)

        eng = new_engine()
        task = asyncio.create_task(eng.run())
        try:
            for _ in range(rng.randint(4, 10)):
                await svc.writer.run(sales.command(rng.randint(1, 40)))
                await asyncio.sleep(rng.uniform(0, 0.02))
                roll = rng.random()
                if roll < 0.2:  # the engine "crashes": memory gone, resume from the database
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    eng = new_engine()
                    task = asyncio.create_task(eng.run())
                elif roll < 0.22 and not restarted_relay:
                    restarted_relay = True
                    await asyncio.to_thread(_restart_relay, box)
                    proxy.retarget("127.0.0.1", int(box["relay"].url.rsplit(":", 1)[1]))
            proxy.heal()
            eng.wake()
            deadline = time.monotonic() + HEAL_TIMEOUT_S
            head = svc.reader.execute("SELECT max(seq) FROM events").fetchall()[0][0]
            while cursor.load(svc.reader).acked_seq < head:
                assert time.monotonic() < deadline, (
                    f"seed {seed}: not converged after healing; {cursor.load(svc.reader)}")
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await proxy.close()
        alarms = {a.reason for a in cursor.alarms(svc.reader)}
        n = await asyncio.to_thread(assert_converged, box["relay"].storage, svc.db_path, TENANT,
                                    store_id)
    # A healthy relay behind a faulty network never has cause to refuse a batch.
    assert not alarms & {"chain_mismatch", "bad_fingerprint", "ack_mismatch"}, alarms
    return n, dict(proxy.counts)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("seed", range(SCHEDULES_PER_BACKEND))
def test_schedule_converges(relay_box, seed: int, tmp_path: Path) -> None:
    n, counts = asyncio.run(_schedule(seed, relay_box, tmp_path))
    assert n > 0 and sum(counts.values()) > 0


def test_the_schedules_inject_every_fault(relay_box, tmp_path: Path) -> None:
    """Guard against a proxy that silently passes everything: over a few schedules every
    action fires."""
    seen: dict[str, int] = {}
    for seed in range(1000, 1006):
        _n, counts = asyncio.run(_schedule(seed, relay_box, tmp_path / str(seed)))
        for k, v in counts.items():
            seen[k] = seen.get(k, 0) + v
    assert {a for a, v in seen.items() if v} >= {"pass", "drop", "delay", "reset", "duplicate",
                                                 "lose", "truncate"}, seen


