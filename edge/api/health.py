"""Liveness, readiness and Prometheus metrics. Public: no lane token needed."""

from __future__ import annotations

from litestar import MediaType, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge.api.deps import Injected
from edge.store.kernel import Store
from schemas import api


@get("/health/live", summary="The process is up", tags=["health"])
async def live() -> api.Health:
    return api.Health(status="ok")


@get("/health/ready", summary="Database writable and migrations applied", tags=["health"])
async def ready(store: Injected[Store]) -> Response[api.Health]:
    result = await store.readiness()
    body = api.Health(status="ok" if result.ready else "unavailable", checks=result.checks)
    return Response(body, status_code=200 if result.ready else 503, media_type=MediaType.JSON)


@get("/metrics", summary="Prometheus metrics", tags=["health"], include_in_schema=False)
async def metrics(store: Injected[Store]) -> Response[bytes]:
    data = generate_latest(store.metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
