"""Poll every interface and diff against the previous listing (the hot-plug loop's core).

`poll_once` is synchronous and cheap to call from a worker thread; the daemon calls it on a
timer. Enumeration failures are kept per interface: the failing interface keeps its previous
devices (no false "detached"), and its error is reported so the status can show it.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from drivers.discovery import Diff, Interface, diff, index
from schemas.devices import DeviceDescriptor

log = structlog.get_logger("novapos.devices")


class Poller:
    def __init__(self, interfaces: Sequence[Interface]) -> None:
        self.interfaces = list(interfaces)
        self._seen: dict[str, DeviceDescriptor] = {}
        # Interface name -> last enumeration error (cleared when it works again).
        self.errors: dict[str, str] = {}

    @property
    def seen(self) -> dict[str, DeviceDescriptor]:
        return dict(self._seen)

    def poll_once(self) -> Diff:
        listing: list[DeviceDescriptor] = []
        for iface in self.interfaces:
            try:
                found = iface.enumerate()
            except Exception as exc:  # noqa: BLE001 - one broken bus must not stop the others
                if self.errors.get(iface.name) != str(exc):
                    log.warning("device enumeration failed", interface=iface.name, error=str(exc))
                self.errors[iface.name] = str(exc) or type(exc).__name__
                found = [d for d in self._seen.values() if d.interface == iface.name]
            else:
                self.errors.pop(iface.name, None)
            listing.extend(found)
        change = diff(self._seen, listing)
        self._seen = index(listing)
        return change
