"""HID transport over hidapi (`hid.device`): input reports in, output reports out.

Each `read` returns one input report. The device factory is injectable: tests pass a fake with
hidapi's `open_path/read/write/close` shape, which is the only place HID is ever faked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.transports import ExactReads, TransportError

DeviceFactory = Callable[[], Any]


def _default_factory() -> Any:
    import hid

    return hid.device()


class HidTransport(ExactReads):
    def __init__(self, path: str, factory: DeviceFactory | None = None) -> None:
        self.path = path
        self._factory = factory or _default_factory
        self._dev: Any | None = None

    @property
    def is_open(self) -> bool:
        return self._dev is not None

    def open(self) -> None:
        if self._dev is not None:
            return
        dev = self._factory()
        try:
            dev.open_path(self.path.encode())
        except (OSError, ValueError) as exc:
            raise TransportError(f"open HID {self.path}: {exc}") from exc
        self._dev = dev

    def close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            try:
                dev.close()
            except (OSError, ValueError):
                pass

    def _require(self) -> Any:
        if self._dev is None:
            raise TransportError("transport is not open")
        return self._dev

    def write(self, data: bytes) -> None:
        dev = self._require()
        try:
            written = dev.write(list(data))
        except (OSError, ValueError) as exc:
            self.close()
            raise TransportError(f"write HID {self.path}: {exc}") from exc
        if written < 0:
            self.close()
            raise TransportError(f"write HID {self.path} failed")

    def read(self, size: int, timeout_s: float) -> bytes:
        dev = self._require()
        try:
            data = dev.read(size, max(1, int(timeout_s * 1000)))
        except (OSError, ValueError) as exc:
            self.close()
            raise TransportError(f"read HID {self.path}: {exc}") from exc
        if not data:
            raise TransportError(f"no report from {self.path} in {timeout_s}s", timeout=True)
        return bytes(data)

