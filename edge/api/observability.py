"""Outermost ASGI layer: request id, per-route latency histogram, one structured log line
per mutating or failed request (tenant, store, lane bound from the lane's token)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog

from core import logs
from edge.metrics import Metrics, request_labels
from schemas import text

log = structlog.get_logger("novapos.http")


class Observability:
    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        status = 500

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
            await send(message)

        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            method = scope["method"]
            self.metrics.request_seconds.labels(
                *request_labels(method, scope.get("path_template"), status)).observe(elapsed)
            if method != "GET" or status >= 400:
                who = scope.get("user")
                path = scope["path"]
                if text.has_card_number(path):  # a card number typed into a URL
                    path = logs.redact(path)
                fields = dict(method=method, route=route, path=path, status=status,
                              duration_ms=round(elapsed * 1000, 3))
                if who is not None:
                    fields.update(tenant=who.tenant_id, store=who.store_id, lane=who.lane_id)
                if status >= 500:
                    log.error("request", **fields)
                else:
                    log.info("request", **fields)


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            decoded = value.decode("latin-1")[:128]
            return decoded if decoded.isprintable() and not text.has_card_number(decoded) else None
    return None
