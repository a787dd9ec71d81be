"""Raw TCP transport (network printers on 9100, payment terminals on 20007)."""

from __future__ import annotations

import socket

from drivers.transports import ExactReads, TransportError


class TcpTransport(ExactReads):
    def __init__(self, host: str, port: int, connect_timeout_s: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self._sock: socket.socket | None = None

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout_s)
        except OSError as exc:
            raise TransportError(f"connect {self.host}:{self.port}: {exc}",
                                 timeout=isinstance(exc, TimeoutError)) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise TransportError("transport is not open")
        return self._sock

    def write(self, data: bytes) -> None:
        sock = self._require()
        try:
            sock.settimeout(self.connect_timeout_s)
            sock.sendall(data)
        except OSError as exc:
            self.close()
            raise TransportError(f"send to {self.host}:{self.port}: {exc}",
                                 timeout=isinstance(exc, TimeoutError)) from exc

    def read(self, size: int, timeout_s: float) -> bytes:
        sock = self._require()
        try:
            sock.settimeout(max(timeout_s, 0.001))
            data = sock.recv(size)
        except TimeoutError as exc:
            raise TransportError(f"no answer from {self.host}:{self.port} in {timeout_s}s",
                                 timeout=True) from exc
        except OSError as exc:
            self.close()
            raise TransportError(f"recv from {self.host}:{self.port}: {exc}") from exc
        if not data:
            self.close()
            raise TransportError(f"{self.host}:{self.port} closed the connection")
        return data

