"""The fault proxy itself, against a real loopback HTTP server: each action does what it says
(the relay-facing proofs depend on it)."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from tests.support.fault_proxy import FaultProxy, Schedule


class _Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Counting.hits.append(body)
        answer = b"ok:" + body
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def upstream():
    _Counting.hits = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()


def _one(port: int, action: str) -> tuple[str, list[bytes]]:
    async def main():
        proxy = FaultProxy("127.0.0.1", port, Schedule(1, {action: 1}))
        await proxy.start()
        try:
            async with httpx.AsyncClient(base_url=proxy.url, timeout=10) as c:
                try:
                    r = await c.post("/x", content=b"hello")
                    return r.text
                except httpx.HTTPError as exc:
                    return type(exc).__name__
        finally:
            await proxy.close()
    got = asyncio.run(main())
    return got, list(_Counting.hits)


@pytest.mark.parametrize("action,answered,upstream_hits", [
    ("pass", True, 1), ("delay", True, 1), ("duplicate", True, 2),
    ("drop", False, 0), ("reset", False, 0), ("lose", False, 1), ("truncate", False, 1),
])
def test_each_action(upstream, action, answered, upstream_hits) -> None:
    got, hits = _one(upstream, action)
    assert (got == "ok:hello") is answered, got
    assert hits == [b"hello"] * upstream_hits


def test_schedules_are_reproducible_and_heal() -> None:
    a, b = Schedule(42), Schedule(42)
    assert [a.next() for _ in range(200)] == [b.next() for _ in range(200)]
    a.heal()
    assert {a.next() for _ in range(50)} == {"pass"}
