"""Sync never holds the writer: while a batch is stuck on the wire (the proxy holds the
request), sales commit, and the cursor does not move until the relay answers. And an alarm
reaches the log as one structured error line, not one per retry."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
from structlog.testing import capture_logs

from sync import cursor
from tests.support.fault_proxy import FaultProxy, Schedule
from tests.support.relay import start_relay
from tests.support.sync_proof import assert_converged
from tests.support.sync_store import SaleFactory, running_store
from tests.sync.helpers import STORE, TENANT, engine, run


async def _until(pred, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_sales_commit_while_an_upload_hangs(tmp_path: Path) -> None:
    relay = start_relay("sqlite", tmp_path / "relay")
    cred = relay.enroll(TENANT, STORE)

    async def main():
        proxy = FaultProxy("127.0.0.1", int(relay.url.rsplit(":", 1)[1]), Schedule(0, {"pass": 1}))
        await proxy.start()
        async with running_store(tmp_path / "edge") as svc:
            eng = engine(svc, cred, relay_url=proxy.url, request_timeout_s=120)
            await svc.writer.run(SaleFactory(1).command(50))
            await eng.round()  # connected, 1-50 up
            proxy.pause()
            await svc.writer.run(SaleFactory(2).command(10))
            task = asyncio.create_task(eng.round())
            await _until(lambda: proxy.held >= 1)  # the batch 51-60 is on the wire, held
            for i in range(5):  # sales go on, each its own commit
                await svc.writer.run(SaleFactory(10 + i).command(1))
            assert cursor.load(svc.reader).acked_seq == 50
            assert not task.done()
            proxy.resume()
            await task
            await eng.round()
            assert cursor.load(svc.reader).acked_seq == 65
            assert_converged(relay.storage, svc.db_path, TENANT, STORE)
            await eng.close()
        await proxy.close()
    try:
        run(main())
    finally:
        relay.close()


def test_an_alarm_is_one_structured_error_line(tmp_path: Path) -> None:
    from tests.sync.fake_relay import FakeRelay
    from tests.sync.helpers import credential

    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            await svc.writer.run(SaleFactory(3).command(4))
            eng = engine(svc, cred, transport=relay.transport())
            await eng.round()
            relay.events[3] = msgspec.structs.replace(relay.events[3], hash=b"\0" * 32)
            await svc.writer.run(SaleFactory(4).command(1))
            with capture_logs() as logs:
                await eng.round()
                await eng.round()  # the same alarm again: counted, not logged again
            alarms = [e for e in logs if e["event"] == "sync alarm"]
            assert len(alarms) == 1 and alarms[0]["log_level"] == "error"
            assert alarms[0]["reason"] == "chain_mismatch" and alarms[0]["seq"]
            await eng.close()
    run(main())
