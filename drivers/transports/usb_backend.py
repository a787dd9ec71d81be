"""The pyusb backend: libusb 1.0, resolved once per process and shared by USB discovery and the
USB transport.

The library comes with the Python install (the `libusb-package` wheel carries a libusb build),
so a USB receipt printer is found on a machine with no system libusb; without the wheel's
library, `libusb_package.find_library` falls back to the system's. Left to itself, pyusb looks
the library up (`ctypes.util.find_library`, which runs `ldconfig`/`gcc`) on EVERY
`usb.core.find` call while it finds none: every discovery poll paid for it. Here the answer,
found or not, is kept for the life of the process (`reset()` is for tests).
"""

from __future__ import annotations

import functools
from typing import Any

import structlog

log = structlog.get_logger("novapos.devices")

NO_BACKEND = ("No backend available: libusb 1.0 not found (install the `libusb-package` wheel "
              "into the daemon's environment, or the system's libusb-1.0)")


@functools.cache
def backend() -> Any | None:
    """pyusb's libusb1 backend, or None when no libusb can be loaded (then USB is absent)."""
    import usb.backend.libusb1

    try:
        import libusb_package
    except ImportError:  # a source install without the wheel: the system's libusb only
        find_library = None
    else:
        find_library = libusb_package.find_library
    found = usb.backend.libusb1.get_backend(find_library=find_library)
    if found is None:
        log.warning("usb backend", error=NO_BACKEND)
    return found


def require() -> Any:
    """The backend, or pyusb's own NoBackendError (what discovery reports as a warning)."""
    found = backend()
    if found is None:
        import usb.core

        raise usb.core.NoBackendError(NO_BACKEND)
    return found


def reset() -> None:
    backend.cache_clear()
