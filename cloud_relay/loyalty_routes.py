"""HQ's loyalty routes (bearer HQ token; the tenant comes from it, as `hq_tenant`, the
dependency the app provides): enroll, view and erase customers, settle, the tenant key for
provisioning stores. Thin: decode, call `cloud_relay.loyalty` in a worker thread, encode."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.params import PathParameter

from cloud_relay import loyalty
from core.errors import BadRequest
from schemas import loyalty as lo

HqTenant = NamedDependency[str]  # the tenant of the caller's HQ token (the app's `_hq`)
CustomerId = Annotated[str, PathParameter(min_length=1, max_length=64)]
_json = msgspec.json.Encoder()


def _ok(value, status: int = 200) -> Response:
    return Response(content=_json.encode(value), status_code=status, media_type="application/json")


@post("/v1/hq/customers", status_code=201)
async def enroll_customer(request: Request, hq_tenant: HqTenant) -> Response:
    try:
        req = msgspec.json.decode(await request.body(), type=lo.EnrollCustomer)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadRequest(f"not a valid customer: {exc}") from None
    state = request.app.state
    return _ok(await sync_to_thread(loyalty.enroll, state.storage, hq_tenant, req,
                                    state.now_ms()), 201)


@get("/v1/hq/customers/{customer_id:str}")
async def get_customer(request: Request, hq_tenant: HqTenant, customer_id: CustomerId) -> Response:
    state = request.app.state
    return _ok(await sync_to_thread(loyalty.view, state.storage, hq_tenant, customer_id,
                                    state.now_ms()))


@delete("/v1/hq/customers/{customer_id:str}", status_code=200)
async def erase_customer(request: Request, hq_tenant: HqTenant, customer_id: CustomerId) -> Response:
    state = request.app.state
    return _ok(await sync_to_thread(loyalty.erase, state.storage, hq_tenant, customer_id,
                                    state.now_ms()))


@post("/v1/hq/loyalty/settle", status_code=200)
async def settle(request: Request, hq_tenant: HqTenant) -> Response:
    state = request.app.state
    n = await sync_to_thread(loyalty.settle, state.storage, hq_tenant, state.now_ms())
    return _ok({"applied": n})


@post("/v1/hq/loyalty/tiers", status_code=200)
async def recompute_tiers(request: Request, hq_tenant: HqTenant) -> Response:
    state = request.app.state
    return _ok(await sync_to_thread(loyalty.recompute_tiers, state.storage, hq_tenant,
                                    state.now_ms()))


@get("/v1/hq/loyalty/key")
async def tenant_key(request: Request, hq_tenant: HqTenant) -> Response:
    state = request.app.state
    return _ok(await sync_to_thread(loyalty.tenant_key_b64, state.storage, hq_tenant,
                                    state.now_ms()))


@post("/v1/hq/loyalty/key/deliver", status_code=200)
async def deliver_key(request: Request, hq_tenant: HqTenant) -> Response:
    state = request.app.state
    return _ok(await sync_to_thread(loyalty.deliver_key, state.storage, hq_tenant,
                                    state.now_ms()))


ROUTES = [enroll_customer, get_customer, erase_customer, settle, recompute_tiers, tenant_key,
          deliver_key]
