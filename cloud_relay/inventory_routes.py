"""HQ's inventory and pickup routes on the relay (bearer token), registered by
`cloud_relay.app` with its own authentication and response helpers (handed in, so this
module does not import the app):

- `GET /v1/hq/stock?store=&sku=`: on-hand per store as of its synced seq;
- `POST /v1/hq/deliveries`, `POST /v1/hq/transfers`: sent down by down-sync;
- `POST /v1/hq/pickup-orders`, `GET /v1/hq/pickup-orders?state=&store=`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.concurrency import sync_to_thread

from cloud_relay import inventory
from cloud_relay.storage.base import Storage
from core.errors import BadRequest
from schemas import inventory_api as api

_STATES = {"sent", "received", "accepted", "rejected", "picking", "packed", "ready",
           "handed_over", "cancelled"}


def _decode(raw: bytes, typ: type, what: str):
    try:
        return msgspec.json.decode(raw, type=typ)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadRequest(f"not a valid {what}: {exc}") from None


def handlers(hq: Callable[[Request], Awaitable[str]], storage: Callable[[Request], Storage],
             now_ms: Callable[[Request], int],
             json_response: Callable[[Any, int], Response]) -> list[Any]:
    @get("/v1/hq/stock")
    async def hq_stock(request: Request) -> Response:
        tenant = await hq(request)
        q = request.query_params
        return json_response(await sync_to_thread(
            inventory.stock_levels, storage(request), tenant, q.get("store") or None,
            q.get("sku") or None), 200)

    @post("/v1/hq/deliveries", status_code=201)
    async def hq_delivery(request: Request) -> Response:
        tenant = await hq(request)
        doc = _decode(await request.body(), api.DeliveryNotice, "delivery")
        return json_response(await sync_to_thread(
            inventory.publish_delivery, storage(request), tenant, doc, now_ms(request)), 201)

    @post("/v1/hq/transfers", status_code=201)
    async def hq_transfer(request: Request) -> Response:
        tenant = await hq(request)
        doc = _decode(await request.body(), api.TransferRequest, "transfer")
        return json_response(await sync_to_thread(
            inventory.publish_transfer, storage(request), tenant, doc, now_ms(request)), 201)

    @post("/v1/hq/pickup-orders", status_code=201)
    async def hq_place_pickup(request: Request) -> Response:
        tenant = await hq(request)
        doc = _decode(await request.body(), api.PlacePickupOrder, "pickup order")
        return json_response(await sync_to_thread(
            inventory.place_pickup_order, storage(request), tenant, doc, now_ms(request)), 201)

    @get("/v1/hq/pickup-orders")
    async def hq_pickup_orders(request: Request) -> Response:
        tenant = await hq(request)
        q = request.query_params
        state = q.get("state") or None
        if state is not None and state not in _STATES:
            raise BadRequest(f"state must be one of {', '.join(sorted(_STATES))}",
                             field="state")
        return json_response(await sync_to_thread(
            inventory.pickup_orders, storage(request), tenant, q.get("store") or None, state),
            200)

    return [hq_stock, hq_delivery, hq_transfer, hq_place_pickup, hq_pickup_orders]
