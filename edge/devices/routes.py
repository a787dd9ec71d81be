"""Device routes.

Lane side (lane token): `GET /v1/lanes/{lane_id}/events`, the lane's live stream (SSE) of
scans by its scanners and attach/detach/state of its devices, opened by a `snapshot` event and
kept alive by comments; `GET /v1/devices`, the calling lane's devices.

Admin side (`/v1/admin/...`, local admin token from loopback only, see `edge.devices.admin`):
store status, device list/status, health checks, lane bindings, and the store-wide stream
that `novapos-edge devices watch` follows. Mutating admin routes take an Idempotency-Key like
every other mutating route.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, post, put
from litestar.params import JSONBody, PathParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from core import idempotency as once
from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from edge.devices import status as status_mod
from edge.devices.hub import Subscription
from edge.devices.service import DeviceService
from edge.errors import Forbidden
from edge.lanes import Principal
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from schemas.devices import (
    BindDevice,
    Binding,
    CheckHealth,
    DeviceList,
    DeviceStatus,
    HealthResult,
    StoreStatus,
)
from schemas.printing import PrintJobView

DeviceId = Annotated[str, PathParameter(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")]
LanePath = Annotated[str, PathParameter(min_length=1, max_length=64)]
RECENT_ACTIONS_MAX = 256
_encoder = msgspec.json.Encoder()
# Device actions (health checks, test prints, drawer kicks) are not facts of the log: their
# answers are kept for replays in memory (a daemon restart forgets them).
_recent = once.RecentKeys(RECENT_ACTIONS_MAX)


async def _stream(
    devices: DeviceService, sub: Subscription, first: ServerSentEventMessage
) -> AsyncIterator[ServerSentEventMessage]:
    keepalive_s = devices.config.stream_keepalive_s
    try:
        yield first
        while True:
            try:
                event = await asyncio.wait_for(sub.queue.get(), timeout=keepalive_s)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            if event is None:
                reason = "overflow" if sub.overflowed else "shutdown"
                yield ServerSentEventMessage(event="end", data=reason)
                return
            yield ServerSentEventMessage(event=event.type, data=event.data.decode(), id=event.id)
    finally:
        devices.hub.unsubscribe(sub)


def _sse(devices: DeviceService, lane_id: str | None) -> ServerSentEvent:
    sub = devices.hub.subscribe(lane_id)
    snapshot = ServerSentEventMessage(
        event="snapshot", data=_encoder.encode(devices.listing(lane_id)).decode()
    )
    return ServerSentEvent(
        _stream(devices, sub, snapshot),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class LaneDeviceController(Controller):
    tags = ["devices"]
    devices: DeviceService

    @get(
        "/v1/lanes/{lane_id:str}/events",
        responses=READ_PROBLEMS,
        summary="Live stream (SSE) of the lane's scans and device changes",
    )
    async def lane_events(self, who: Injected[Principal], lane_id: LanePath) -> ServerSentEvent:
        if who.lane_id != lane_id:
            raise Forbidden(f"this token belongs to lane {who.lane_id}, not {lane_id}")
        return _sse(self.devices, lane_id)

    @get("/v1/devices", responses=READ_PROBLEMS, summary="Devices bound to the calling lane")
    async def lane_devices(self, who: Injected[Principal]) -> DeviceList:
        return self.devices.listing(who.lane_id)


async def _once(
    mutation: Injected[Mutation], payload: Any, status: int, action: Callable[[], Awaitable[Any]]
) -> Response:
    """Run a device action at most once per Idempotency-Key (replayed from memory)."""

    async def effect() -> once.Answer:
        return answer(status, await action())

    return respond(
        await once.once_async(
            _recent, mutation.scope, mutation.key, mutation.fingerprint(payload), effect
        )
    )


class AdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]
    devices: DeviceService
    store: Store
    sync_report: status_mod.SyncReport
    security = [{"AdminToken": []}]
    # Local tooling API (loopback, admin token), documented in docs/devices.md; the published
    # OpenAPI is the store API that lanes use.
    include_in_schema = False

    @get(
        "/status",
        responses=READ_PROBLEMS,
        summary="Store status: daemon, database, sync, print queues, devices",
    )
    async def store_status(self) -> StoreStatus:
        return await status_mod.build(self.store, self.devices, self.sync_report)

    @get("/devices", responses=READ_PROBLEMS, summary="Every attached device, supported or not")
    async def list_devices(self) -> DeviceList:
        return self.devices.listing()

    @get("/devices/{device_id:str}", responses=READ_PROBLEMS, summary="One device's status")
    async def get_device(self, device_id: DeviceId) -> DeviceStatus:
        return self.devices.status(device_id)

    @post(
        "/devices/{device_id:str}/health",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Run a health check (internal: self-test; external: visible action)",
    )
    async def health(
        self, mutation: Injected[Mutation], device_id: DeviceId, data: JSONBody[CheckHealth]
    ) -> Response[HealthResult]:
        return await _once(
            mutation, data, 200, lambda: self.devices.check_health(device_id, data.level)
        )

    @post(
        "/devices/{device_id:str}/test-print",
        responses=WRITE_PROBLEMS,
        status_code=202,
        summary="Queue a test page on a receipt printer",
    )
    async def test_print(
        self, mutation: Injected[Mutation], device_id: DeviceId
    ) -> Response[PrintJobView]:
        return await _once(mutation, None, 202, lambda: self.devices.test_print(device_id))

    @post(
        "/devices/{device_id:str}/kick-drawer",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Open the cash drawer wired to a receipt printer",
    )
    async def kick_drawer(
        self, mutation: Injected[Mutation], device_id: DeviceId
    ) -> Response[DeviceStatus]:
        return await _once(mutation, None, 200, lambda: self.devices.kick_drawer(device_id))

    @put(
        "/devices/{device_id:str}/binding",
        responses=WRITE_PROBLEMS,
        summary="Bind a device to a lane (persisted)",
    )
    async def bind(
        self, mutation: Injected[Mutation], device_id: DeviceId, data: JSONBody[BindDevice]
    ) -> Response[Binding]:
        outcome = await self.store.gate.run(
            mutation,
            data,
            lambda tx: answer(
                200, self.devices.bind_in_tx(tx, device_id, data.lane_id, data.scan_adds_to_cart)
            ),
        )
        self.devices.reload_bindings()
        return respond(outcome)

    @delete(
        "/devices/{device_id:str}/binding",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Unbind a device from its lane",
    )
    async def unbind(self, mutation: Injected[Mutation], device_id: DeviceId) -> Response[dict]:
        def effect(tx):
            self.devices.unbind_in_tx(tx, device_id)
            return answer(200, {"device_id": device_id, "bound": False})

        outcome = await self.store.gate.run(mutation, None, effect)
        self.devices.reload_bindings()
        return respond(outcome)

    @get("/stream", summary="Live stream (SSE) of every device change and scan in the store")
    async def stream(self) -> ServerSentEvent:
        return _sse(self.devices, None)
