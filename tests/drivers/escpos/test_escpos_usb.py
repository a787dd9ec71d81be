"""USB printing through the real pyusb code path, faked at pyusb's backend boundary.

The fake backend is a USB printer whose bulk OUT endpoint forwards to the emulated printer's
TCP socket and whose bulk IN endpoint returns the printer's answers, so the test asserts on
what the emulated printer received. Nothing in the driver or the transport is patched.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import usb.core
from usb.backend import IBackend

from drivers.emulators.escpos_printer import EscposPrinterEmulator
from drivers.escpos import EscposPrinter, PrinterSettings
from drivers.transports import TransportError
from drivers.transports.usb import UsbTransport
from schemas.devices import DeviceAddress
from schemas.printing import Cut, Document, Text

VID, PID = 0x04B8, 0x0202  # an Epson TM-series id
EP_OUT, EP_IN = 0x01, 0x82


class FakePrinterBackend(IBackend):
    """One USB printer-class device: interface 0 with bulk OUT 0x01 and bulk IN 0x82."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.kernel_driver_active = True  # like usblp holding the interface
        self.configuration = 0
        self.claimed: set[int] = set()
        self.opened = 0

    def enumerate_devices(self):
        yield "printer"

    def get_device_descriptor(self, dev):
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=VID, idProduct=PID,
            bcdDevice=0x0100, iManufacturer=0, iProduct=0, iSerialNumber=0,
            bNumConfigurations=1, address=3, bus=1, port_number=1, port_numbers=(1,), speed=3)

    def get_configuration_descriptor(self, dev, config):
        return SimpleNamespace(
            bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0xC0, bMaxPower=50,
            extra_descriptors=[])

    def get_interface_descriptor(self, dev, intf, alt, config):
        return SimpleNamespace(
            bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
            bNumEndpoints=2, bInterfaceClass=7, bInterfaceSubClass=1, bInterfaceProtocol=2,
            iInterface=0, extra_descriptors=[])

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        return SimpleNamespace(
            bLength=7, bDescriptorType=5, bEndpointAddress=(EP_OUT, EP_IN)[ep],
            bmAttributes=0x02, wMaxPacketSize=64, bInterval=0, bRefresh=0, bSynchAddress=0,
            extra_descriptors=[])

    def open_device(self, dev):
        self.opened += 1
        return "handle"

    def close_device(self, dev_handle):
        self.opened -= 1

    def set_configuration(self, dev_handle, config_value):
        self.configuration = config_value

    def get_configuration(self, dev_handle):
        return self.configuration

    def claim_interface(self, dev_handle, intf):
        assert not self.kernel_driver_active, "claimed while usblp still holds the interface"
        self.claimed.add(intf)

    def release_interface(self, dev_handle, intf):
        self.claimed.discard(intf)

    def is_kernel_driver_active(self, dev_handle, intf):
        return self.kernel_driver_active

    def detach_kernel_driver(self, dev_handle, intf):
        self.kernel_driver_active = False

    def attach_kernel_driver(self, dev_handle, intf):
        self.kernel_driver_active = True

    def bulk_write(self, dev_handle, ep, intf, data, timeout):
        assert ep == EP_OUT and intf in self.claimed
        self.sock.sendall(bytes(data))
        return len(data)

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):
        assert ep == EP_IN and intf in self.claimed
        self.sock.settimeout(timeout / 1000)
        try:
            data = self.sock.recv(len(buff))
        except TimeoutError as exc:
            raise usb.core.USBTimeoutError("timed out", -7, 110) from exc
        buff[:len(data)] = type(buff)(buff.typecode, data)
        return len(data)


@pytest.fixture
def emu() -> Iterator[EscposPrinterEmulator]:
    with EscposPrinterEmulator() as e:
        yield e


def test_usb_printer_prints_and_answers_status(emu: EscposPrinterEmulator) -> None:
    backend = FakePrinterBackend("127.0.0.1", emu.port)
    transport = UsbTransport(VID, PID, backend=backend)
    p = EscposPrinter("usb-1", DeviceAddress("usb", vendor_id=VID, product_id=PID), transport,
                      PrinterSettings(status_timeout_s=1.0))
    p.open()
    assert p.status().state == "idle" and p.status().power == "online"
    assert backend.configuration == 1 and backend.claimed == {0}
    p.print_document(Document([Text("over USB"), Cut()]))
    assert emu.record.receipts() == ["over USB\n\n\n\n\n\n"]
    emu.set_state(paper_out=True)
    assert p.check_health("internal").causes[0] == "paper_out"
    p.close()
    # The kernel printer driver gets its interface back.
    assert backend.kernel_driver_active and backend.claimed == set()
    backend.sock.close()


def test_missing_usb_device_is_a_transport_error(emu: EscposPrinterEmulator) -> None:
    backend = FakePrinterBackend("127.0.0.1", emu.port)
    transport = UsbTransport(VID, PID + 1, backend=backend)
    with pytest.raises(TransportError, match="no such device"):
        transport.open()
    p = EscposPrinter("usb-2", DeviceAddress("usb", vendor_id=VID, product_id=PID + 1), transport)
    p.open()
    assert p.status().causes == ["not_connected"]
    backend.sock.close()
