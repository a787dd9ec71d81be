"""Serial scanner driver (USB CDC-ACM `/dev/ttyACM*`, RS-232, or a pty in tests).

Options (from the device's configuration): `baudrate` (9600), `suffix` ("cr", "lf" or "crlf";
default "cr"), `aim` (true: strip and decode an AIM prefix when present).
"""

from __future__ import annotations

from typing import ClassVar

from drivers.device import StatisticsSink
from drivers.scanners import serial_codec
from drivers.scanners.base import Scanner
from drivers.transports import Transport
from drivers.transports.serial import SerialTransport
from schemas.devices import DeviceAddress, DeviceDescriptor

# USB vendor ids of scanner makers whose CDC-ACM scanners we claim without configuration.
SCANNER_VENDORS: dict[int, str] = {
    0x0C2E: "Honeywell (Metrologic)", 0x05E0: "Zebra (Symbol)", 0x05F9: "Datalogic",
    0x1EAB: "Newland", 0x0536: "Honeywell (Hand Held Products)", 0x1A86: "CH34x adapter",
}
CLAIMED_VENDORS = frozenset({0x0C2E, 0x05E0, 0x05F9, 0x1EAB, 0x0536})


class SerialScanner(Scanner):
    DRIVER: ClassVar[str] = "serial_scanner"

    def __init__(self, device_id: str, address: DeviceAddress,
                 statistics: StatisticsSink | None = None, *, baudrate: int = 9600,
                 suffix: str = "cr", aim: bool = True) -> None:
        super().__init__(device_id, address, statistics)
        if not address.path:
            raise ValueError("a serial scanner needs a device path")
        self.baudrate = baudrate
        self.suffix = serial_codec.suffix_bytes(suffix)
        self.aim = aim
        self._rest = b""

    @classmethod
    def supported(cls, descriptor: DeviceDescriptor) -> int | None:
        if descriptor.interface != "serial":
            return None
        if descriptor.address.vendor_id in CLAIMED_VENDORS:
            return 50
        return None

    @classmethod
    def from_descriptor(cls, device_id: str, descriptor: DeviceDescriptor,
                        statistics: StatisticsSink) -> SerialScanner:
        o = descriptor.options
        return cls(device_id, descriptor.address, statistics,
                   baudrate=int(o.get("baudrate", 9600)), suffix=str(o.get("suffix", "cr")),
                   aim=bool(o.get("aim", True)))

    def _make_transport(self) -> Transport:
        assert self.address.path is not None
        return SerialTransport(self.address.path, self.baudrate)

    def _reset_decoder(self) -> None:
        self._rest = b""

    def _feed(self, chunk: bytes) -> list[tuple[str, str | None]]:
        codes, self._rest = serial_codec.split_codes(self._rest + chunk, self.suffix)
        out = []
        for raw in codes:
            text = raw.decode("latin-1")
            out.append(serial_codec.parse_aim(text) if self.aim else (text, None))
        return out
