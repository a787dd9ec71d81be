"""HID scanner drivers: HID POS (usage page 0x8C) and keyboard wedge (boot keyboard reports).

A scanner that offers a HID POS collection is driven through it (symbology and data arrive
directly). A keyboard-wedge scanner is indistinguishable from a keyboard by usage, so it is
claimed only by a known scanner vendor id or by configuration, never every keyboard; its
`layout` option ("us", "de") must match the scanner's keyboard setting.
"""

from __future__ import annotations

from typing import ClassVar

from drivers.device import StatisticsSink
from drivers.discovery.hid import GENERIC_DESKTOP_PAGE, KEYBOARD_USAGE, POS_SCANNER_PAGE
from drivers.scanners import wedge
from drivers.scanners.base import Scanner
from drivers.scanners.hidpos import HidPosAssembler
from drivers.scanners.serial import CLAIMED_VENDORS
from drivers.transports import Transport
from drivers.transports.hid import DeviceFactory, HidTransport
from schemas.devices import DeviceAddress, DeviceDescriptor


class _HidScanner(Scanner):
    def __init__(self, device_id: str, address: DeviceAddress,
                 statistics: StatisticsSink | None = None,
                 factory: DeviceFactory | None = None) -> None:
        super().__init__(device_id, address, statistics)
        if not address.path:
            raise ValueError("a HID scanner needs a hidapi path")
        self._factory = factory

    def _make_transport(self) -> Transport:
        assert self.address.path is not None
        return HidTransport(self.address.path, self._factory)


class HidPosScanner(_HidScanner):
    DRIVER: ClassVar[str] = "hid_pos_scanner"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._assembler = HidPosAssembler()

    @classmethod
    def supported(cls, descriptor: DeviceDescriptor) -> int | None:
        if descriptor.interface == "hid" and descriptor.usage_page == POS_SCANNER_PAGE:
            return 90
        return None

    @classmethod
    def from_descriptor(cls, device_id: str, descriptor: DeviceDescriptor,
                        statistics: StatisticsSink,
                        factory: DeviceFactory | None = None) -> HidPosScanner:
        return cls(device_id, descriptor.address, statistics, factory)

    def _reset_decoder(self) -> None:
        self._assembler.reset()

    def _feed(self, chunk: bytes) -> list[tuple[str, str | None]]:
        done = self._assembler.feed(chunk)
        return [done] if done is not None else []


class WedgeScanner(_HidScanner):
    DRIVER: ClassVar[str] = "wedge_scanner"

    def __init__(self, *args, layout: str = "us", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._decoder = wedge.WedgeDecoder(layout)

    @classmethod
    def supported(cls, descriptor: DeviceDescriptor) -> int | None:
        if (descriptor.interface == "hid" and descriptor.usage_page == GENERIC_DESKTOP_PAGE
                and descriptor.usage == KEYBOARD_USAGE
                and descriptor.address.vendor_id in CLAIMED_VENDORS):
            return 40
        return None

    @classmethod
    def from_descriptor(cls, device_id: str, descriptor: DeviceDescriptor,
                        statistics: StatisticsSink,
                        factory: DeviceFactory | None = None) -> WedgeScanner:
        layout = str(descriptor.options.get("layout", "us"))
        return cls(device_id, descriptor.address, statistics, factory, layout=layout)

    def _reset_decoder(self) -> None:
        self._decoder.reset()

    def _feed(self, chunk: bytes) -> list[tuple[str, str | None]]:
        # hidapi may prefix a report id on keyboards with numbered reports; boot reports have
        # none, so an extra leading byte is dropped.
        report = chunk[-wedge.REPORT_BYTES:] if len(chunk) > wedge.REPORT_BYTES else chunk
        if len(report) < wedge.REPORT_BYTES:
            return []
        return [(code, None) for code in self._decoder.feed(report)]
