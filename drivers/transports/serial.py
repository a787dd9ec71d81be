"""Serial transport over pyserial: real ttys, USB CDC-ACM ports and ptys in tests."""

from __future__ import annotations

import serial

from drivers.transports import ExactReads, TransportError


class SerialTransport(ExactReads):
    def __init__(self, path: str, baudrate: int = 9600) -> None:
        self.path = path
        self.baudrate = baudrate
        self._port: serial.Serial | None = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        if self._port is not None:
            return
        try:
            self._port = serial.Serial(self.path, self.baudrate, timeout=0, write_timeout=3)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"open {self.path}: {exc}") from exc

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    def _require(self) -> serial.Serial:
        if self._port is None:
            raise TransportError("transport is not open")
        return self._port

    def write(self, data: bytes) -> None:
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise TransportError(f"write {self.path}: {exc}",
                                 timeout=isinstance(exc, serial.SerialTimeoutException)) from exc

    def read(self, size: int, timeout_s: float) -> bytes:
        port = self._require()
        try:
            port.timeout = max(timeout_s, 0.001)
            # pyserial's read(n) waits for all n bytes; wait for one, then take what is there.
            data = port.read(1)
            if data and size > 1 and port.in_waiting:
                data += port.read(min(size - 1, port.in_waiting))
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise TransportError(f"read {self.path}: {exc}") from exc
        if not data:
            raise TransportError(f"no answer on {self.path} in {timeout_s}s", timeout=True)
        return data

