"""USB enumeration through pyusb (`usb.core.find(find_all=True)`).

Lists devices that no other interface owns: hubs are skipped, and so are devices whose every
interface is HID (the HID interface lists those, with their usage pages) or CDC serial (they
appear as /dev/ttyACM* on the serial interface). What is left are printers (class 7), vendor
specific devices and anything else, which then show up as supported or unsupported.
The finder is injectable: tests pass a `usb.core.find`-shaped callable returning fakes. The
default finder uses the process's one libusb backend (`drivers.transports.usb_backend`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import structlog

from schemas.devices import DeviceAddress, DeviceDescriptor

log = structlog.get_logger("novapos.devices")

HUB_CLASS = 0x09
HID_CLASS = 0x03
CDC_CLASSES = frozenset({0x02, 0x0A})
PRINTER_CLASS = 0x07

Finder = Callable[..., Iterable[Any]]


def _default_finder(**kwargs: Any) -> Iterable[Any]:
    import usb.core

    from drivers.transports import usb_backend

    # The backend resolved once per process: pyusb would search for libusb on every poll.
    return usb.core.find(backend=usb_backend.require(), **kwargs)


def _string(dev: Any, attr: str) -> str | None:
    # Reading string descriptors needs access to the device node; without udev rules it fails.
    try:
        value = getattr(dev, attr)
    except Exception:  # noqa: BLE001 - pyusb raises ValueError/USBError/NotImplementedError
        return None
    return str(value) if value else None


def interface_classes(dev: Any) -> list[int]:
    classes: list[int] = []
    try:
        for cfg in dev:
            for intf in cfg:
                classes.append(int(intf.bInterfaceClass))
    except Exception as exc:  # noqa: BLE001 - unreadable configuration: judge by the device class
        log.debug("cannot read a USB configuration", device=str(dev), error=str(exc))
    return classes


def describe(dev: Any) -> DeviceDescriptor | None:
    """A descriptor for one pyusb device, or None when another interface owns it."""
    dev_class = int(getattr(dev, "bDeviceClass", 0) or 0)
    if dev_class == HUB_CLASS:
        return None
    classes = interface_classes(dev) or [dev_class]
    if all(c == HID_CLASS or c in CDC_CLASSES for c in classes):
        return None
    ports = getattr(dev, "port_numbers", None)
    bus = getattr(dev, "bus", None)
    location = f"{bus}-{'.'.join(map(str, ports))}" if ports else f"{bus}:{getattr(dev, 'address', '')}"
    main_class = PRINTER_CLASS if PRINTER_CLASS in classes else (dev_class or classes[0])
    return DeviceDescriptor(
        interface="usb",
        address=DeviceAddress(
            transport="usb", path=location, vendor_id=int(dev.idVendor),
            product_id=int(dev.idProduct), serial_number=_string(dev, "serial_number"),
        ),
        manufacturer=_string(dev, "manufacturer"),
        product=_string(dev, "product"),
        usb_class=main_class,
    )


class UsbInterface:
    name = "usb"

    def __init__(self, finder: Finder | None = None,
                 configured: dict[tuple[int, int], tuple[str, str]] | None = None) -> None:
        """`configured` maps (vendor id, product id) to (driver, device id) for devices the
        store names in its configuration (a USB receipt printer in [printing])."""
        self._find = finder or _default_finder
        self._configured = dict(configured or {})

    def enumerate(self) -> list[DeviceDescriptor]:
        out = []
        for dev in self._find(find_all=True):
            d = describe(dev)
            if d is None:
                continue
            named = self._configured.get((d.address.vendor_id or 0, d.address.product_id or 0))
            if named is not None:
                d = msgspec.structs.replace(d, driver=named[0], device_id=named[1])
            out.append(d)
        return out
