"""Byte transports under the drivers: TCP, serial (pyserial), USB (pyusb), HID (hidapi).

Every transport implements `Transport`; emulators sit at the far end of a real transport (a TCP
socket, a pty), so the driver under test is the driver that ships. Tests that fake USB or HID do
it with a transport class at this boundary, never by patching a driver.
"""

from __future__ import annotations

import time
from typing import Protocol


class TransportError(Exception):
    """The link failed (refused, reset, closed, timed out). `timeout` tells the two apart."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class ExactReads:
    """`read_exactly` in terms of the transport's own `read`, shared by every transport."""

    def read(self, size: int, timeout_s: float) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def read_exactly(self, size: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        buf = bytearray()
        while len(buf) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(
                    f"short read: {len(buf)} of {size} bytes in {timeout_s}s",
                    timeout=True)
            buf += self.read(size - len(buf), remaining)
        return bytes(buf)


class Transport(Protocol):
    def open(self) -> None: ...
    def close(self) -> None: ...
    def write(self, data: bytes) -> None: ...
    def read(self, size: int, timeout_s: float) -> bytes:
        """Up to `size` bytes; at least one unless the timeout passes (TransportError timeout)."""
        ...
    def read_exactly(self, size: int, timeout_s: float) -> bytes: ...
    @property
    def is_open(self) -> bool: ...
