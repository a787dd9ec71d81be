"""HID enumeration through hidapi (`hid.enumerate()`).

Each entry is one top-level collection: a scanner in HID POS mode shows usage page 0x8C, a
keyboard-wedge scanner (or a real keyboard) usage page 0x01 usage 0x06. Entries of one device
are listed HID POS first so that, when they share an address key, the POS collection wins.
The enumerator is injectable (tests pass a `hid.enumerate`-shaped callable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.devices import DeviceAddress, DeviceDescriptor

POS_SCANNER_PAGE = 0x8C
GENERIC_DESKTOP_PAGE = 0x01
KEYBOARD_USAGE = 0x06

Enumerator = Callable[[], list[dict[str, Any]]]


def _default_enumerator() -> list[dict[str, Any]]:
    import hid

    return hid.enumerate()


def _path(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def describe(entry: dict[str, Any]) -> DeviceDescriptor:
    return DeviceDescriptor(
        interface="hid",
        address=DeviceAddress(
            transport="hid", path=_path(entry.get("path", b"")),
            vendor_id=int(entry.get("vendor_id", 0)), product_id=int(entry.get("product_id", 0)),
            serial_number=entry.get("serial_number") or None,
        ),
        manufacturer=entry.get("manufacturer_string") or None,
        product=entry.get("product_string") or None,
        usage_page=entry.get("usage_page"),
        usage=entry.get("usage"),
    )


class HidInterface:
    name = "hid"

    def __init__(self, enumerator: Enumerator | None = None) -> None:
        self._enumerate = enumerator or _default_enumerator

    def enumerate(self) -> list[DeviceDescriptor]:
        entries = [describe(e) for e in self._enumerate()]
        # POS collections first (stable sort keeps the bus order otherwise).
        entries.sort(key=lambda d: d.usage_page != POS_SCANNER_PAGE)
        return entries
