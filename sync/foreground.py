"""A sync run in the foreground, without the daemon (`novapos-edge sync now` on a stopped
store): rounds of the same engine until the relay holds the whole log or the time is up. The
caller runs the store's writer around it."""

from __future__ import annotations

import asyncio
import time

from sync import cursor, outbox
from sync.engine import SyncEngine


class NotCaughtUp(RuntimeError):
    pass


async def drain(engine: SyncEngine, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            engine.wake()
            wait_s = await engine.round()
            done = await engine.read(lambda c: cursor.load(c).acked_seq >= outbox.head_seq(c))
            if done and engine.backoff.failures == 0:
                return
            if time.monotonic() + wait_s > deadline:
                raise NotCaughtUp("the relay did not take the whole log in time; see "
                                  "`novapos-edge sync status`")
            await asyncio.sleep(wait_s)
    finally:
        await engine.close()
