"""A sync round run in the foreground, without the daemon (`novapos-edge sync now` on a
stopped store): the same engine, its own event loop and writer task, until the relay holds the
whole log or the time is up."""

from __future__ import annotations

import asyncio
import contextlib
import time

from edge.service import StoreService
from schemas.sync_status import SyncStatus
from sync import cursor, outbox
from sync.engine import engine_for_service
from sync.status import sync_status


def drain_once(service: StoreService, *, timeout_s: float) -> SyncStatus:
    async def main() -> None:
        engine = engine_for_service(service)
        if engine is None:
            raise RuntimeError("sync is not configured: set [sync] relay_url and run "
                               "`novapos-edge sync enroll --credential FILE`")
        writer_task = asyncio.create_task(service.writer.serve())
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                engine.wake()
                wait_s = await engine.round()
                done = await engine.read(
                    lambda c: cursor.load(c).acked_seq >= outbox.head_seq(c))
                if done and engine.backoff.failures == 0:
                    return
                if time.monotonic() + wait_s > deadline:
                    raise RuntimeError("the relay did not take the whole log in time; "
                                       "see `novapos-edge sync status`")
                await asyncio.sleep(wait_s)
        finally:
            await engine.close()
            writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer_task

    service.start()
    try:
        asyncio.run(main())
        return sync_status(service.data_dir, service.config, conn=service.reader)
    finally:
        service.stop()
