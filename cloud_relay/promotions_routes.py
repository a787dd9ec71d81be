"""HQ's promotion routes (registered by `cloud_relay.app` with its HQ authentication):

    POST /v1/hq/promotions            a signed bundle (schemas.promotions.SignedBundle) -> 201
                                      PublishResult; 400 when malformed or unsigned
    POST /v1/hq/promotions/simulate   ?from=YYYY-MM-DD&to=YYYY-MM-DD[&store=S][&tz=Zone]
                                      [&segment=TIER], body a
                                      bundle (schemas.promotions.Bundle) -> SimulationReport
    GET  /v1/hq/promotions/overuse    coupon codes used beyond max_uses across stores
    PUT  /v1/hq/promotions/key        body {public_key_b64}: the key bundles are signed with,
                                      handed to stores at enrollment and by down-sync
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from litestar import Request, Response, get, post, put
from litestar.concurrency import sync_to_thread

from cloud_relay import promotions
from core.errors import BadRequest
from core.promotions.rules import validate_bundle
from schemas import promotions as sp

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
HqAuth = Callable[[Request], Awaitable[str]]


def _json(value: Any, status: int = 200) -> Response:
    return Response(content=msgspec.json.encode(value), status_code=status,
                    media_type="application/json")


def _date(request: Request, name: str) -> str:
    value = request.query_params.get(name, "")
    if not _DATE.match(value):
        raise BadRequest(f"query parameter {name!r} must be a date YYYY-MM-DD")
    return value


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"unknown time zone {name!r}") from None


def routes(hq: HqAuth) -> list[Any]:
    @post("/v1/hq/promotions", status_code=201)
    async def publish_promotions(request: Request) -> Response:
        tenant = await hq(request)
        raw = await request.body()
        state = request.app.state
        return _json(await sync_to_thread(promotions.publish, state.storage, tenant, raw,
                                          state.now_ms()), 201)

    @post("/v1/hq/promotions/simulate", status_code=200)
    async def simulate_promotions(request: Request) -> Response:
        tenant = await hq(request)
        date_from, date_to = _date(request, "from"), _date(request, "to")
        tz = _zone(request.query_params.get("tz", "UTC"))
        try:
            bundle = msgspec.json.decode(await request.body(), type=sp.Bundle)
            validate_bundle(bundle)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise BadRequest(f"not a valid promotion bundle: {exc}") from None
        return _json(await sync_to_thread(
            promotions.simulate, request.app.state.storage, tenant, bundle, date_from, date_to,
            request.query_params.get("store") or None, tz,
            request.query_params.get("segment") or None))

    @get("/v1/hq/promotions/overuse")
    async def promotion_overuse(request: Request) -> Response:
        tenant = await hq(request)
        return _json(await sync_to_thread(promotions.overuse, request.app.state.storage, tenant))

    @put("/v1/hq/promotions/key", status_code=200)
    async def register_promotions_key(request: Request) -> Response:
        tenant = await hq(request)
        raw = await request.body()
        state = request.app.state
        return _json(await sync_to_thread(promotions.register_key, state.storage, tenant, raw,
                                          state.now_ms()))

    return [publish_promotions, simulate_promotions, promotion_overuse, register_promotions_key]
