"""No log line prints a card number: the request log line (path, request id) and any other
line through the configured processors (issue 10, "the logs do not print it")."""

from __future__ import annotations

import asyncio

import structlog

from edge.api.observability import Observability
from edge.metrics import Metrics

CARD = "4111111111111111"


def test_the_request_log_line_never_prints_a_card_number() -> None:
    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return {"type": "http.request", "body": b""}

    sent = []

    async def send(message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": f"/v1/carts/{CARD}/lines",
             "headers": [(b"x-request-id", f"req-{CARD}".encode())]}
    with structlog.testing.capture_logs() as logs:
        asyncio.run(Observability(app, Metrics())(scope, receive, send))
    (line,) = [entry for entry in logs if entry["event"] == "request"]
    assert CARD not in repr(line) and line["status"] == 404
    assert "[card number removed]" in line["path"]
    response_headers = dict(sent[0]["headers"])
    assert CARD.encode() not in response_headers[b"x-request-id"]
