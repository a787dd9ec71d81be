"""Remote control of an emulator that runs as its own process: JSON lines over loopback TCP.

`python -m drivers.emulators.zvt_terminal --control-port N` listens for one JSON object per
line and answers one per line: {"op": "script", "outcome": "decline", "times": 1, "params":
{...}}, {"op": "set_default", "outcome": ..., "params": {...}}, {"op": "set_link", "up": false}
and {"op": "journal"} (answers {"ok": true, "journal": [...]}). Bad requests get {"ok": false,
"error": "..."} and change nothing. `EmulatorControl` is the client, with the same method names
as `ZvtTerminalEmulator`, so a test drives a terminal in another process as it would one in
its own.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from typing import Any

from drivers.emulators.zvt_terminal.books import JournalEntry
from drivers.emulators.zvt_terminal.server import ZvtTerminalEmulator

MAX_LINE_BYTES = 64 * 1024


def handle(emulator: ZvtTerminalEmulator, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    params = request.get("params") or {}
    if not isinstance(params, dict):
        raise TypeError("params must be an object")
    if op == "script":
        emulator.script(str(request["outcome"]), int(request.get("times", 1)), **params)
        return {"ok": True}
    if op == "set_default":
        emulator.set_default(str(request["outcome"]), **params)
        return {"ok": True}
    if op == "set_link":
        emulator.set_link(bool(request["up"]))
        return {"ok": True}
    if op == "journal":
        return {"ok": True, "journal": [dataclasses.asdict(e) for e in emulator.journal()]}
    raise ValueError(f"unknown op {op!r}")


class ControlServer:
    """Serves `handle` on a loopback port in a daemon thread, one client at a time."""

    def __init__(self, emulator: ZvtTerminalEmulator, port: int = 0) -> None:
        self.emulator = emulator
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="zvt-control")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, conn.makefile("rwb") as stream:
                for line in stream:
                    stream.write(self._answer(line) + b"\n")
                    stream.flush()

    def _answer(self, line: bytes) -> bytes:
        try:
            if len(line) > MAX_LINE_BYTES:
                raise ValueError("request too long")
            request = json.loads(line)
            if not isinstance(request, dict):
                raise TypeError("a request is a JSON object")
            answer = handle(self.emulator, request)
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"ok": False, "error": str(exc)}
        return json.dumps(answer).encode()


class EmulatorControl:
    """Client of a `ControlServer`: script, set_default, set_link, journal, charged_minor."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout_s: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout_s)
        self._stream = self._sock.makefile("rwb")

    def close(self) -> None:
        self._stream.close()
        self._sock.close()

    def _call(self, **request: Any) -> dict[str, Any]:
        self._stream.write(json.dumps(request).encode() + b"\n")
        self._stream.flush()
        answer = json.loads(self._stream.readline())
        if not answer.get("ok"):
            raise ValueError(answer.get("error", "refused"))
        return answer

    def script(self, outcome: str, times: int = 1, **params: Any) -> None:
        self._call(op="script", outcome=outcome, times=times, params=params)

    def set_default(self, outcome: str, **params: Any) -> None:
        self._call(op="set_default", outcome=outcome, params=params)

    def set_link(self, up: bool) -> None:
        self._call(op="set_link", up=up)

    def journal(self) -> list[JournalEntry]:
        return [JournalEntry(**row) for row in self._call(op="journal")["journal"]]

    def charged_minor(self, ecr_ref: str) -> int:
        return sum(e.net_minor for e in self.journal() if e.ecr_ref == ecr_ref)
