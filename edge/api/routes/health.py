"""Liveness, readiness and Prometheus metrics. Public: no lane token needed."""

from __future__ import annotations

from litestar import MediaType, Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas import api


@get("/health/live", summary="The process is up", tags=["health"])
async def live() -> api.Health:
    return api.Health(status="ok")


@get("/health/ready", summary="Database writable and migrations applied", tags=["health"])
async def ready(request: Request) -> Response[api.Health]:
    result = await request.app.state.service.readiness()
    body = api.Health(status="ok" if result.ready else "unavailable", checks=result.checks)
    return Response(body, status_code=200 if result.ready else 503, media_type=MediaType.JSON)


@get("/metrics", summary="Prometheus metrics", tags=["health"], include_in_schema=False)
async def metrics(request: Request) -> Response[bytes]:
    data = generate_latest(request.app.state.service.metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
