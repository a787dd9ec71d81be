"""The pickup sweeper: a background task on the store's clock, so timers fire at the store
with or without a WAN. Each turn is one writer command (`commands.sweep`: decisions,
no-shows, short flags); then the SLA timers are read and raised as alarms: a gauge on
`/metrics`, an advisory readiness check (so `status` and `/health/ready` name them), and one
`pickup.sla_breached` event per order and timer on every lane's stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import apsw
import structlog
from prometheus_client import Gauge

from edge import lanes
from edge.errors import StoreUnavailable
from edge.pickup import commands
from edge.pickup.settings import PickupConfig
from edge.store.kernel import Store
from schemas.envelope import Event

log = structlog.get_logger("novapos.pickup")
Publish = Callable[[str, object, str | None], object]


class PickupService:
    def __init__(self, store: Store, cfg: PickupConfig, publish: Publish | None = None) -> None:
        self.store = store
        self.cfg = cfg
        self._publish = publish
        self._announced: set[tuple[str, str]] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.breaches_gauge = Gauge("novapos_pickup_sla_breached",
                                    "Open pickup orders past an SLA timer", ["timer"],
                                    registry=store.metrics.registry)
        store.add_advisory_check("pickup_sla", self._check)
        store.on_commit(self._committed)

    # --- alarms ----------------------------------------------------------------------------

    def breaches(self, conn: apsw.Connection | None = None) -> list[tuple[str, str]]:
        return commands.breaches(conn or self.store.reader, self.store.clock.now_ms(), self.cfg)

    def _check(self, conn: apsw.Connection) -> str:
        found = self.breaches(conn)
        if not found:
            return "ok"
        return (f"{len(found)} pickup order(s) past their SLA: "
                + ", ".join(f"{o} ({t})" for o, t in found[:5]))

    def _raise_alarms(self) -> None:
        found = self.breaches()
        for timer in ("accept", "ready"):
            self.breaches_gauge.labels(timer).set(sum(1 for _, t in found if t == timer))
        fresh = [b for b in found if b not in self._announced]
        self._announced = set(found)
        if fresh and self._publish is not None:
            enrolled = [ln["lane_id"] for ln in lanes.listing(self.store.reader)]
            for order_id, timer in fresh:
                payload = {"order_id": order_id, "timer": timer}
                for lane in [None, *dict.fromkeys(enrolled)]:
                    self._publish("pickup.sla_breached", payload, lane)

    # --- the sweeper -----------------------------------------------------------------------

    def _committed(self, appended: list[Event]) -> None:
        if self._wake is not None and self._loop is not None and any(
                e.type == "pickup.order_received" for e in appended):
            self._loop.call_soon_threadsafe(self._wake.set)

    async def sweep_once(self) -> commands.Swept:
        swept = await self.store.writer.run(lambda tx: commands.sweep(tx, self.cfg))
        if swept.decided or swept.no_shows or swept.flagged:
            log.info("pickup sweep", decided=swept.decided, no_shows=swept.no_shows,
                     flagged=swept.flagged)
        self._raise_alarms()
        return swept

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while True:
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except StoreUnavailable:  # the store closed (shutting down): nothing left to sweep
                return
            except Exception:  # a failed turn is retried on the next one; selling goes on
                log.exception("pickup sweep failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.cfg.sweep_interval_s)
            self._wake.clear()
