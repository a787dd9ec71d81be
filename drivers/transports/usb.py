"""USB transport over pyusb: bulk OUT for data, bulk IN for status answers (USB printer class).

On Linux the `usblp` kernel driver may hold a printer's interface; `open` detaches it (and
`close` hands it back) so the daemon can claim the interface itself. Tests fake USB at pyusb's
own boundary, a backend handed to `usb.core.find`, so this code runs unchanged against it.
"""

from __future__ import annotations

from typing import Any

import usb.core
import usb.util

from drivers.transports import ExactReads, TransportError, usb_backend

_MIN_TIMEOUT_MS = 1  # pyusb reads 0 as "wait forever"


def _is_bulk(direction: int):
    def match(ep: Any) -> bool:
        return (usb.util.endpoint_direction(ep.bEndpointAddress) == direction
                and usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK)
    return match


class UsbTransport(ExactReads):
    def __init__(self, vendor_id: int, product_id: int, *, interface: int = 0,
                 write_timeout_s: float = 3.0, backend: Any = None) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.interface = interface
        self.write_timeout_s = write_timeout_s
        self._backend = backend
        self._dev: Any = None
        self._ep_out: Any = None
        self._ep_in: Any = None
        self._detached = False
        self._pending = bytearray()  # a bulk IN packet can carry more than the caller asked

    @property
    def name(self) -> str:
        return f"usb {self.vendor_id:04x}:{self.product_id:04x}"

    @property
    def is_open(self) -> bool:
        return self._dev is not None

    def open(self) -> None:
        if self._dev is not None:
            return
        try:
            dev = usb.core.find(idVendor=self.vendor_id, idProduct=self.product_id,
                                backend=self._backend or usb_backend.require())
            if dev is None:
                raise TransportError(f"{self.name}: no such device attached")
            try:
                if dev.is_kernel_driver_active(self.interface):
                    dev.detach_kernel_driver(self.interface)
                    self._detached = True
            except NotImplementedError:
                pass  # backends without kernel drivers (Windows, macOS)
            try:
                cfg = dev.get_active_configuration()
            except usb.core.USBError:
                dev.set_configuration()
                cfg = dev.get_active_configuration()
            intf = cfg[(self.interface, 0)]
            self._ep_out = usb.util.find_descriptor(intf, custom_match=_is_bulk(usb.util.ENDPOINT_OUT))
            self._ep_in = usb.util.find_descriptor(intf, custom_match=_is_bulk(usb.util.ENDPOINT_IN))
            if self._ep_out is None:
                raise TransportError(f"{self.name}: interface {self.interface} has no bulk OUT")
            usb.util.claim_interface(dev, self.interface)
            self._dev = dev
        except (usb.core.USBError, usb.core.NoBackendError) as exc:
            raise TransportError(f"{self.name}: {exc}") from exc

    def close(self) -> None:
        dev, self._dev = self._dev, None
        self._pending.clear()
        if dev is None:
            return
        try:
            usb.util.release_interface(dev, self.interface)
            if self._detached:
                dev.attach_kernel_driver(self.interface)
                self._detached = False
        except (usb.core.USBError, NotImplementedError):
            pass  # the device may be gone already; nothing more to give back
        usb.util.dispose_resources(dev)

    def _require(self) -> Any:
        if self._dev is None:
            raise TransportError("transport is not open")
        return self._dev

    def write(self, data: bytes) -> None:
        dev = self._require()
        try:
            written = dev.write(self._ep_out.bEndpointAddress, data,
                                max(_MIN_TIMEOUT_MS, int(self.write_timeout_s * 1000)))
        except usb.core.USBTimeoutError as exc:
            raise TransportError(f"{self.name}: write timed out", timeout=True) from exc
        except usb.core.USBError as exc:
            self.close()
            raise TransportError(f"{self.name}: write: {exc}") from exc
        if written != len(data):
            raise TransportError(f"{self.name}: wrote {written} of {len(data)} bytes")

    def read(self, size: int, timeout_s: float) -> bytes:
        dev = self._require()
        if not self._pending:
            if self._ep_in is None:
                raise TransportError(f"{self.name}: no bulk IN endpoint to read status from",
                                     timeout=True)
            try:
                packet = dev.read(self._ep_in.bEndpointAddress,
                                  max(size, self._ep_in.wMaxPacketSize),
                                  max(_MIN_TIMEOUT_MS, int(timeout_s * 1000)))
            except usb.core.USBTimeoutError as exc:
                raise TransportError(f"{self.name}: no answer in {timeout_s}s",
                                     timeout=True) from exc
            except usb.core.USBError as exc:
                self.close()
                raise TransportError(f"{self.name}: read: {exc}") from exc
            self._pending += bytes(packet)
            if not self._pending:
                raise TransportError(f"{self.name}: no answer in {timeout_s}s", timeout=True)
        out = bytes(self._pending[:size])
        del self._pending[:size]
        return out

