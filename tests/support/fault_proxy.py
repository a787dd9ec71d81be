"""A fault-injecting HTTP/1.1 proxy on real TCP sockets, between an edge and the relay.

It frames requests and responses (Content-Length or chunked) so faults land at the moments
that matter, and draws one action per request from a seeded schedule:

- `pass`        forward the request, return the answer;
- `drop`        close the client's connection before forwarding anything (nothing reached the
                relay);
- `delay`       wait up to `max_delay_s`, then pass;
- `reset`       forward only part of the request, then reset both connections (RST);
- `duplicate`   send the request upstream twice (the second on a fresh connection, as a
                retrying middlebox would) and return the second answer;
- `lose`        forward the request, read the relay's full answer (it has committed), then
                reset the client's connection without sending it: the classic lost ack;
- `truncate`    forward the answer's head and half its body, then reset.

`heal()` turns every later request into `pass`. `pause()` holds every request at the proxy
until `resume()` (`held` counts those waiting). `counts` says what was done, for test output.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

ACTIONS = ("pass", "drop", "delay", "reset", "duplicate", "lose", "truncate")
MAX_HEAD_BYTES = 64 * 1024
IO_TIMEOUT_S = 60.0


class Schedule:
    """Seeded action choice: `weights` maps action -> weight (missing actions: 0)."""

    def __init__(self, seed: int, weights: dict[str, float] | None = None,
                 max_delay_s: float = 0.05) -> None:
        self.rng = random.Random(seed)
        w = weights or {"pass": 6, "drop": 1, "delay": 1, "reset": 1, "duplicate": 1, "lose": 1,
                        "truncate": 1}
        unknown = set(w) - set(ACTIONS)
        if unknown:
            raise ValueError(f"unknown proxy actions {sorted(unknown)}")
        self.actions: Sequence[str] = list(w)
        self.weights: Sequence[float] = [w[a] for a in self.actions]
        self.max_delay_s = max_delay_s
        self.healed = False

    def heal(self) -> None:
        self.healed = True

    def next(self) -> str:
        if self.healed:
            return "pass"
        return self.rng.choices(self.actions, self.weights)[0]


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message (head + body) as raw bytes; IncompleteReadError at EOF."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD_BYTES:
        raise ValueError("message head too large")
    lower = head.lower()
    length = 0
    chunked = b"transfer-encoding: chunked" in lower
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1].strip())
    if not chunked:
        return head + (await reader.readexactly(length) if length else b"")
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        body += size_line
        size = int(size_line.split(b";")[0].strip(), 16)
        chunk = await reader.readexactly(size + 2)
        body += chunk
        if size == 0:
            return head + bytes(body)


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class FaultProxy:
    upstream_host: str
    upstream_port: int
    schedule: Schedule
    counts: Counter = field(default_factory=Counter)
    _server: asyncio.AbstractServer | None = None
    _conns: set[asyncio.Task] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    port: int = 0
    held: int = 0
    _open: asyncio.Event | None = None

    def pause(self) -> None:
        self._open = asyncio.Event()

    def resume(self) -> None:
        if self._open is not None:
            self._open.set()
            self._open = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def heal(self) -> None:
        self.schedule.heal()

    def retarget(self, host: str, port: int) -> None:
        """Point later connections at another upstream (a restarted relay)."""
        self.upstream_host, self.upstream_port = host, port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        # Abort every socket: the connection tasks see EOF and end on their own (cancelling
        # them instead makes asyncio's stream callbacks log the cancellation).
        for w in list(self._writers):
            w.transport.abort()
        if self._conns:
            _done, pending = await asyncio.wait(set(self._conns), timeout=5)
            for t in pending:
                t.cancel()

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._writers.add(cwriter)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    async with asyncio.timeout(IO_TIMEOUT_S):
                        request = await _read_message(creader)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                if self._open is not None:
                    gate = self._open
                    self.held += 1
                    try:
                        await gate.wait()
                    finally:
                        self.held -= 1
                action = self.schedule.next()
                self.counts[action] += 1
                if action == "drop":
                    _rst(cwriter)
                    return
                if action == "delay":
                    await asyncio.sleep(self.schedule.rng.uniform(0, self.schedule.max_delay_s))
                if upstream is None:
                    upstream = await asyncio.open_connection(self.upstream_host,
                                                             self.upstream_port)
                    self._writers.add(upstream[1])
                ureader, uwriter = upstream
                if action == "reset":
                    uwriter.write(request[: max(1, len(request) // 2)])
                    with contextlib.suppress(ConnectionError):
                        await uwriter.drain()
                    _rst(uwriter)
                    _rst(cwriter)
                    return
                uwriter.write(request)
                await uwriter.drain()
                async with asyncio.timeout(IO_TIMEOUT_S):
                    response = await _read_message(ureader)
                if action == "duplicate":
                    r2, w2 = await asyncio.open_connection(self.upstream_host, self.upstream_port)
                    self._writers.add(w2)
                    try:
                        w2.write(request)
                        await w2.drain()
                        async with asyncio.timeout(IO_TIMEOUT_S):
                            response = await _read_message(r2)
                    finally:
                        w2.close()
                        self._writers.discard(w2)
                if action == "lose":
                    _rst(cwriter)
                    return
                if action == "truncate":
                    head_end = response.index(b"\r\n\r\n") + 4
                    cut = head_end + (len(response) - head_end) // 2
                    cwriter.write(response[:cut])
                    with contextlib.suppress(ConnectionError):
                        await cwriter.drain()
                    _rst(cwriter)
                    return
                cwriter.write(response)
                await cwriter.drain()
                if b"\r\nconnection: close" in response.lower().split(b"\r\n\r\n", 1)[0]:
                    return
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError):
            _rst(cwriter)
        finally:
            if upstream is not None:
                upstream[1].transport.abort()
                self._writers.discard(upstream[1])
            cwriter.transport.abort()
            self._writers.discard(cwriter)
            self._conns.discard(task)
