"""The daemon's app on a real loopback HTTP server inside the test process, with a clock the
test controls. For API behaviour tests; process-level tests use `tests.support.daemon`."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from core.clock import ManualClock
from edge import config as config_mod
from edge import demo
from edge.app import create_asgi
from edge.compose import Daemon, compose
from edge.store.kernel import Store

# 2026-03-02 10:00:00 UTC: after the demo catalog's prices took effect.
START_MS = 1_772_445_600_000


@dataclass
class LiveApp:
    url: str
    daemon: Daemon
    clock: ManualClock
    tokens: dict[str, str]
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def service(self) -> Store:
        """The store kernel (database, writer, reader) under the app."""
        return self.daemon.store

    def client(self, lane: str = "lane-1") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[lane]}"},
                            timeout=10.0)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.daemon.stop()


def start_live_app(data_dir: Path, env: dict[str, str] | None = None, *,
                   fast_lane: bool = True) -> LiveApp:
    cfg = config_mod.load(data_dir, env or {})
    clock = ManualClock(START_MS)
    daemon = compose(data_dir, cfg, clock)
    daemon.start()
    tokens = demo.seed(daemon.store)
    server = uvicorn.Server(uvicorn.Config(
        create_asgi(daemon, fast_lane=fast_lane), host="127.0.0.1", port=0, log_config=None, access_log=False,
        lifespan="on", loop="asyncio",
    ))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveApp(f"http://127.0.0.1:{port}", daemon, clock, tokens, server, thread)
