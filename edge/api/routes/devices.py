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
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, post, put
from litestar.params import JSONBody, PathParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from edge.api.idempotency import IdempotencyKeyReused, _key, fingerprint
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from edge.api.routes.carts import IdempotencyKey
from edge.devices import status as status_mod
from edge.devices.admin import admin_guard
from edge.devices.hub import Subscription
from edge.errors import Forbidden
from edge.lanes import Principal
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
# Admin actions share one idempotency namespace that no lane id can collide with.
ADMIN_LANE = "admin:local"
RECENT_ACTIONS_MAX = 256
_encoder = msgspec.json.Encoder()


def _devices(request: Request) -> Any:
    return request.app.state.service.devices


async def _stream(request: Request, sub: Subscription, first: ServerSentEventMessage
                  ) -> AsyncIterator[ServerSentEventMessage]:
    devices = _devices(request)
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


def _sse(request: Request, lane_id: str | None) -> ServerSentEvent:
    devices = _devices(request)
    sub = devices.hub.subscribe(lane_id)
    snapshot = ServerSentEventMessage(
        event="snapshot", data=_encoder.encode(devices.listing(lane_id)).decode())
    return ServerSentEvent(_stream(request, sub, snapshot),
                           headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class LaneDeviceController(Controller):
    tags = ["devices"]

    @get("/v1/lanes/{lane_id:str}/events", responses=READ_PROBLEMS,
         summary="Live stream (SSE) of the lane's scans and device changes")
    async def lane_events(self, request: Request[Principal, Any, Any],
                          lane_id: LanePath) -> ServerSentEvent:
        if request.user.lane_id != lane_id:
            raise Forbidden(f"this token belongs to lane {request.user.lane_id}, not {lane_id}")
        return _sse(request, lane_id)

    @get("/v1/devices", responses=READ_PROBLEMS, summary="Devices bound to the calling lane")
    async def lane_devices(self, request: Request[Principal, Any, Any]) -> DeviceList:
        return _devices(request).listing(request.user.lane_id)


class _RecentActions:
    """Idempotency for admin device actions (health checks, test prints, drawer kicks): the last
    RECENT_ACTIONS_MAX responses by key, in memory (a daemon restart forgets them)."""

    def __init__(self) -> None:
        self._done: OrderedDict[str, tuple[bytes, int, bytes]] = OrderedDict()

    def get(self, key: str, fp: bytes) -> tuple[int, bytes] | None:
        hit = self._done.get(key)
        if hit is None:
            return None
        if hit[0] != fp:
            raise IdempotencyKeyReused("this Idempotency-Key was already used with another request")
        return hit[1], hit[2]

    def put(self, key: str, fp: bytes, status: int, body: bytes) -> None:
        self._done[key] = (fp, status, body)
        while len(self._done) > RECENT_ACTIONS_MAX:
            self._done.popitem(last=False)


_recent = _RecentActions()


async def _once(request: Request, payload: Any, status: int,
                action: Callable[[], Awaitable[Any]]) -> Response:
    """Run a device action at most once per Idempotency-Key (replayed from memory)."""
    key = _key(request)
    fp = fingerprint(request.method, request.scope["path"], payload)
    replay = _recent.get(key, fp)
    if replay is not None:
        return Response(replay[1], status_code=replay[0], media_type=MediaType.JSON,
                        headers={"Idempotent-Replayed": "true"})
    body = _encoder.encode(await action())
    _recent.put(key, fp, status, body)
    return Response(body, status_code=status, media_type=MediaType.JSON)


def _admin_principal(request: Request) -> Principal:
    ident = request.app.state.service.identity
    return Principal(ident.tenant_id, ident.store_id, ADMIN_LANE, "manager", "admin-token")


class AdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]
    guards = [admin_guard]
    security = [{"AdminToken": []}]
    # Local tooling API (loopback, admin token), documented in docs/devices.md; the published
    # OpenAPI is the store API that lanes use.
    include_in_schema = False

    @get("/status", responses=READ_PROBLEMS, summary="Store status: daemon, database, sync, "
         "print queues, devices")
    async def store_status(self, request: Request) -> StoreStatus:
        svc = request.app.state.service
        return await status_mod.build(svc, svc.devices)

    @get("/devices", responses=READ_PROBLEMS, summary="Every attached device, supported or not")
    async def list_devices(self, request: Request) -> DeviceList:
        return _devices(request).listing()

    @get("/devices/{device_id:str}", responses=READ_PROBLEMS, summary="One device's status")
    async def get_device(self, request: Request, device_id: DeviceId) -> DeviceStatus:
        return _devices(request).status(device_id)

    @post("/devices/{device_id:str}/health", responses=WRITE_PROBLEMS, status_code=200,
          summary="Run a health check (internal: self-test; external: visible action)")
    async def health(self, request: Request, idempotency_key: IdempotencyKey,
                     device_id: DeviceId, data: JSONBody[CheckHealth]) -> Response[HealthResult]:
        return await _once(request, data, 200,
                           lambda: _devices(request).check_health(device_id, data.level))

    @post("/devices/{device_id:str}/test-print", responses=WRITE_PROBLEMS, status_code=202,
          summary="Queue a test page on a receipt printer")
    async def test_print(self, request: Request, idempotency_key: IdempotencyKey,
                         device_id: DeviceId) -> Response[PrintJobView]:
        return await _once(request, None, 202,
                           lambda: _devices(request).test_print(device_id))

    @post("/devices/{device_id:str}/kick-drawer", responses=WRITE_PROBLEMS, status_code=200,
          summary="Open the cash drawer wired to a receipt printer")
    async def kick_drawer(self, request: Request, idempotency_key: IdempotencyKey,
                          device_id: DeviceId) -> Response[DeviceStatus]:
        return await _once(request, None, 200,
                           lambda: _devices(request).kick_drawer(device_id))

    @put("/devices/{device_id:str}/binding", responses=WRITE_PROBLEMS,
         summary="Bind a device to a lane (persisted)")
    async def bind(self, request: Request, idempotency_key: IdempotencyKey, device_id: DeviceId,
                   data: JSONBody[BindDevice]) -> Response[Binding]:
        devices = _devices(request)
        response = await request.app.state.gate.run(
            request, _admin_principal(request), data,
            lambda tx: (200, devices.bind_in_tx(tx, device_id, data.lane_id,
                                                data.scan_adds_to_cart)))
        devices.reload_bindings()
        return response

    @delete("/devices/{device_id:str}/binding", responses=WRITE_PROBLEMS, status_code=200,
            summary="Unbind a device from its lane")
    async def unbind(self, request: Request, idempotency_key: IdempotencyKey,
                     device_id: DeviceId) -> Response[dict]:
        devices = _devices(request)

        def effect(tx) -> tuple[int, dict]:
            devices.unbind_in_tx(tx, device_id)
            return 200, {"device_id": device_id, "bound": False}

        response = await request.app.state.gate.run(request, _admin_principal(request), None,
                                                    effect)
        devices.reload_bindings()
        return response

    @get("/stream", summary="Live stream (SSE) of every device change and scan in the store")
    async def stream(self, request: Request) -> ServerSentEvent:
        return _sse(request, None)
