"""USB works on a machine without a system libusb: the backend ships with the Python install
(libusb-package), and it is resolved once, not on every discovery poll."""

from __future__ import annotations

import ctypes.util

import pytest
import usb.core

from drivers.discovery.usb import UsbInterface
from drivers.transports import TransportError, usb_backend
from drivers.transports.usb import UsbTransport


@pytest.fixture(autouse=True)
def fresh_backend(monkeypatch: pytest.MonkeyPatch):
    """A process that has not loaded libusb yet: ours and pyusb's own memory of it cleared."""
    import usb.backend.libusb1

    monkeypatch.setattr(usb.backend.libusb1, "_lib_object", None)
    monkeypatch.setattr(usb.backend.libusb1, "_lib", None)
    usb_backend.reset()
    yield
    usb_backend.reset()


def test_discovery_finds_a_backend_without_a_system_libusb() -> None:
    # Enumerates (this machine may have no USB devices at all) instead of raising
    # NoBackendError, which `status` shows as "usb discovery: No backend available".
    assert isinstance(UsbInterface().enumerate(), list)
    assert usb_backend.backend() is not None, usb_backend.NO_BACKEND


def test_polling_does_not_look_the_library_up_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import libusb_package

    lookups: list[str] = []
    real_ctypes, real_package = ctypes.util.find_library, libusb_package.find_library

    def counted(real):
        def find(name):
            lookups.append(name)
            return real(name)
        return find

    monkeypatch.setattr(ctypes.util, "find_library", counted(real_ctypes))
    monkeypatch.setattr(libusb_package, "find_library", counted(real_package))
    usb_interface = UsbInterface()
    usb_interface.enumerate()
    first = len(lookups)
    assert first >= 1  # resolved on the first poll
    for _ in range(20):
        usb_interface.enumerate()
    with pytest.raises(TransportError, match="no such device"):
        UsbTransport(0xFFFE, 0xFFFE).open()
    assert len(lookups) == first, lookups


def test_without_any_libusb_the_failure_is_cached_and_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import usb.backend.libusb1

    calls: list[int] = []

    def no_libusb(find_library=None):
        calls.append(1)
        return None

    monkeypatch.setattr(usb.backend.libusb1, "get_backend", no_libusb)
    usb_interface = UsbInterface()
    for _ in range(5):
        with pytest.raises(usb.core.NoBackendError, match="libusb-package"):
            usb_interface.enumerate()
    assert calls == [1]
    with pytest.raises(TransportError, match="No backend available"):
        UsbTransport(0x04B8, 0x0202).open()
