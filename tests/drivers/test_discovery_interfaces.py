"""Interfaces enumerate USB, HID, serial and network devices; the best driver claims each new
device and the rest are listed as unsupported with their ids. USB and HID are faked only at
the enumeration boundary: a `usb.core.find`-shaped finder and a `hid.enumerate`-shaped
function are passed in; serial ports are real ptys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from drivers.device import MemoryStatistics
from drivers.discovery.hid import HidInterface
from drivers.discovery.network import NetworkInterface
from drivers.discovery.poller import Poller
from drivers.discovery.serial import SerialInterface, SerialRule
from drivers.discovery.usb import UsbInterface
from drivers.emulators.serial_scanner import SerialScannerEmulator
from drivers.registry import DriverSpec, Registry, best_driver, device_id_for
from drivers.scanners.hid import HidPosScanner, WedgeScanner
from drivers.scanners.serial import SerialScanner
from schemas.devices import DeviceAddress, DeviceDescriptor


@dataclass
class FakeInterfaceDesc:
    bInterfaceClass: int


@dataclass
class FakeUsbDevice:
    """The attributes of a pyusb `usb.core.Device` that enumeration reads."""

    idVendor: int
    idProduct: int
    bDeviceClass: int
    interfaces: list[int]
    bus: int = 1
    address: int = 2
    port_numbers: tuple[int, ...] = (1,)
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None

    def __iter__(self):  # configurations, each an iterable of interfaces
        return iter([[FakeInterfaceDesc(c) for c in self.interfaces]])


@dataclass
class FakeFinder:
    devices: list[FakeUsbDevice] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return iter(self.devices)


def test_usb_lists_printers_and_unknown_devices_but_not_hubs_hid_or_cdc() -> None:
    finder = FakeFinder([
        FakeUsbDevice(0x1D6B, 0x0002, 0x09, [0x09]),  # root hub
        FakeUsbDevice(0x04B8, 0x0202, 0x00, [0x07], port_numbers=(1, 4), serial_number="X1",
                      manufacturer="EPSON", product="TM-T20II"),
        FakeUsbDevice(0x0C2E, 0x0B61, 0x00, [0x03, 0x03]),  # HID scanner: the HID bus lists it
        FakeUsbDevice(0x0C2E, 0x0B6A, 0x02, [0x02, 0x0A]),  # CDC scanner: it is a tty
        FakeUsbDevice(0x046D, 0x0825, 0xEF, [0x0E, 0x01], port_numbers=(2,)),  # webcam
    ])
    found = UsbInterface(finder).enumerate()
    assert finder.calls == [{"find_all": True}]
    assert [(d.address.vendor_id, d.usb_class) for d in found] == [(0x04B8, 0x07), (0x046D, 0xEF)]
    printer = found[0]
    assert printer.address.path == "1-1.4" and printer.address.serial_number == "X1"
    assert printer.product == "TM-T20II"
    # No driver claims the webcam: it is listed as unsupported, with its ids.
    reg = Registry([DriverSpec.of(SerialScanner)], MemoryStatistics())
    poller = Poller([UsbInterface(finder)])
    reg.apply(poller.poll_once())
    statuses = reg.statuses()
    assert {s.kind for s in statuses} == {"unsupported"}
    webcam = next(s for s in statuses if s.address.vendor_id == 0x046D)
    assert webcam.address.product_id == 0x0825 and webcam.causes == ["unsupported"]


def test_hid_lists_the_pos_collection_first_and_drivers_claim_by_usage() -> None:
    entries = [
        {"path": b"1-3:1.0", "vendor_id": 0x0C2E, "product_id": 0x0B61, "serial_number": "S9",
         "usage_page": 0x01, "usage": 0x06, "product_string": "Voyager 1450g"},
        {"path": b"1-3:1.1", "vendor_id": 0x0C2E, "product_id": 0x0B61, "serial_number": "S9",
         "usage_page": 0x8C, "usage": 0x02, "product_string": "Voyager 1450g"},
        {"path": b"1-5:1.0", "vendor_id": 0x046D, "product_id": 0xC31C, "serial_number": "",
         "usage_page": 0x01, "usage": 0x06, "product_string": "USB Keyboard"},
    ]
    found = HidInterface(lambda: entries).enumerate()
    assert [d.usage_page for d in found] == [0x8C, 0x01, 0x01]
    specs = [DriverSpec.of(HidPosScanner), DriverSpec.of(WedgeScanner), DriverSpec.of(SerialScanner)]
    # Both collections of the scanner share its address key: the POS one wins the claim.
    assert best_driver(specs, found[0]).name == "hid_pos_scanner"
    assert best_driver(specs, found[1]).name == "wedge_scanner"
    # A keyboard from an unknown vendor is never taken for a wedge scanner.
    assert best_driver(specs, found[2]) is None


def test_a_configured_driver_wins_over_priorities_and_ids_are_stable() -> None:
    specs = [DriverSpec.of(HidPosScanner), DriverSpec.of(WedgeScanner)]
    keyboard = DeviceDescriptor("hid", DeviceAddress("hid", path="1-5:1.0", vendor_id=0x046D,
                                                     product_id=0xC31C), usage_page=1, usage=6)
    assert best_driver(specs, keyboard) is None
    configured = DeviceDescriptor("hid", keyboard.address, usage_page=1, usage=6,
                                  driver="wedge_scanner")
    assert best_driver(specs, configured).name == "wedge_scanner"
    assert device_id_for(keyboard) == device_id_for(configured)
    assert device_id_for(keyboard).startswith("hid-046d-c31c-")
    named = DeviceDescriptor("network", DeviceAddress("tcp", host="10.0.0.9", port=9100),
                             device_id="printer-1")
    assert device_id_for(named) == "printer-1"


def test_serial_ports_from_the_os_listing_and_from_configured_globs(tmp_path: Path) -> None:
    @dataclass
    class Port:
        device: str
        vid: int | None
        pid: int | None = None
        serial_number: str | None = None
        manufacturer: str | None = None
        product: str | None = None

    system = [Port("/dev/ttyS0", None), Port("/dev/ttyACM0", 0x0C2E, 0x0B6A, "77", "Honeywell")]
    with SerialScannerEmulator(tmp_path / "ttyFAKE3") as em:
        iface = SerialInterface(
            [SerialRule(str(tmp_path / "ttyFAKE*"), "serial_scanner", "lane-scanner",
                        {"suffix": "cr"})],
            lister=lambda: system,
        )
        found = iface.enumerate()
        assert [d.address.path for d in found] == ["/dev/ttyACM0", em.path]
        pty = found[1]
        assert (pty.driver, pty.device_id, pty.options) == (
            "serial_scanner", "lane-scanner-ttyFAKE3", {"suffix": "cr"})
        assert SerialScanner.supported(found[0]) == 50  # a known scanner vendor on a tty
        em.unplug()
        assert [d.address.path for d in iface.enumerate()] == ["/dev/ttyACM0"]


def test_network_devices_are_present_while_configured() -> None:
    printer = DeviceDescriptor("network", DeviceAddress("tcp", host="10.0.0.5", port=9100),
                               driver="escpos_printer", device_id="printer-1")
    assert NetworkInterface([printer]).enumerate() == [printer]
