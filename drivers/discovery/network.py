"""Configured network devices (printers on TCP 9100, terminals on 20007).

They cannot be enumerated, so they are "attached" for as long as they are configured; whether
they answer is the driver's business (it reports offline/not_connected with a cause).
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.devices import DeviceDescriptor


class NetworkInterface:
    name = "network"

    def __init__(self, configured: Sequence[DeviceDescriptor]) -> None:
        for d in configured:
            if d.address.transport != "tcp" or d.interface != "network":
                raise ValueError(f"not a network device: {d.address.key()}")
        self._configured = list(configured)

    def enumerate(self) -> list[DeviceDescriptor]:
        return list(self._configured)
