"""Helpers for device-service tests: a live daemon configured with devices, an SSE reader."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.live_app import LiveApp, start_live_app

WAIT_S = 15.0


def device_config(scanner_glob: str | None = None, lane_id: str | None = "lane-1",
                  extra: str = "") -> str:
    # A short keep-alive also lets a stopped SseReader notice and hang up promptly.
    text = "[devices]\npoll_interval_s = 0.1\nusb = false\nhid = false\n" \
           "serial_system_ports = false\nstatistics_flush_s = 0.2\nmdns = false\n" \
           "stream_keepalive_s = 0.2\n" + extra
    if scanner_glob:
        text += ("\n[[devices.configured]]\nid = \"scanner\"\ndriver = \"serial_scanner\"\n"
                 f"path = \"{scanner_glob}\"\n")
        if lane_id:
            text += f"lane_id = \"{lane_id}\"\n"
    return text


def start_with_devices(data_dir: Path, config: str) -> LiveApp:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.toml").write_text(config)
    return start_live_app(data_dir)


def admin_client(app: LiveApp) -> httpx.Client:
    token = (app.service.data_dir / "admin-token").read_text().strip()
    return httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {token}"},
                        timeout=10.0)


def wait_for(predicate, what: str, timeout_s: float = WAIT_S):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def on_loop(app: LiveApp, coro):
    """Run a coroutine on the daemon's event loop (the device service lives there)."""
    loop = app.daemon.devices._loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=WAIT_S)


@dataclass
class SseReader:
    """Follows an SSE stream in a thread; `events` gets (event, data) and `comments` ": ..."."""

    url: str
    headers: dict[str, str]
    events: queue.Queue = field(default_factory=queue.Queue)
    comments: list[str] = field(default_factory=list)
    status: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> SseReader:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(10.0, read=60.0)) as client,
            client.stream("GET", self.url, headers=self.headers) as r,
        ):
            self.status = r.status_code
            if r.status_code != 200:
                self.events.put(("http-error", r.read().decode()))
                return
            event, data = "message", []
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    self.comments.append(line)
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    self.events.put((event, json.loads("\n".join(data))
                                     if data[0].startswith(("{", "[")) else "\n".join(data)))
                    event, data = "message", []

    def next(self, event_type: str | tuple[str, ...], timeout_s: float = WAIT_S,
             where=lambda d: True):
        """The next event of this type, or of one of these types (matching `where`); others
        are skipped."""
        types = (event_type,) if isinstance(event_type, str) else event_type
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {event_type!r} event within {timeout_s}s"
            try:
                kind, data = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if kind in types and where(data):
                return data

    def stop(self) -> None:
        self._stop.set()
