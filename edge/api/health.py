"""Liveness, readiness and Prometheus metrics. Public: no lane token needed."""

from __future__ import annotations

from litestar import Controller, MediaType, Response, get, head
from prometheus_client import generate_latest

from edge.store.kernel import Store
from schemas import api

# The text exposition format 0.0.4, which every Prometheus scrapes; Litestar adds the
# `; charset=utf-8` to a text/ type itself (prometheus_client's CONTENT_TYPE_* constants carry
# it already, and would be sent with it twice).
METRICS_MEDIA_TYPE = "text/plain; version=0.0.4"


class HealthController(Controller):
    path = "/"
    tags = ("health",)
    store: Store

    @get("/health/live", summary="The process is up")
    async def live(self) -> api.Health:
        return api.Health(status="ok")

    @get("/health/ready", summary="Database writable and migrations applied",
         description="200 `ok`: ready. 200 `degraded`: the store sells, but an advisory check "
         "failed (`event_chain`: its event log's hash chain is broken at a seq, so sync stops "
         "there); an operator must look, a supervisor must not restart it. 503 `unavailable`: "
         "the database is not writable or its migrations are pending.")
    async def ready(self) -> Response[api.Health]:
        result = await self.store.readiness()
        status = "unavailable" if not result.ready else "degraded" if result.degraded else "ok"
        body = api.Health(status=status, checks=result.checks)
        return Response(body, status_code=200 if result.ready else 503, media_type=MediaType.JSON)

    @get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics(self) -> Response[bytes]:
        data = generate_latest(self.store.metrics.registry)
        return Response(data, media_type=METRICS_MEDIA_TYPE)

    @head("/metrics", include_in_schema=False)
    async def metrics_head(self) -> Response[None]:
        """What a scraper's or a load balancer's probe asks first: 200, the same content type."""
        return Response(None, media_type=METRICS_MEDIA_TYPE)
