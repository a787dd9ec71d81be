"""Serial ports: USB serial adapters and CDC-ACM scanners from `serial.tools.list_ports`, plus
configured paths and globs (e.g. `/dev/ttyACM*`, or a pty's symlink in tests).

A configured rule may name the driver, the device id and driver options for the ports it
matches; ports that match no rule are listed bare and the registry judges them by vendor id.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.devices import DeviceAddress, DeviceDescriptor, OptionValue

PortLister = Callable[[], Iterable[Any]]


def _default_lister() -> Iterable[Any]:
    from serial.tools import list_ports

    return list_ports.comports()


@dataclass(frozen=True)
class SerialRule:
    """Ports whose path matches `pattern` (a path or a glob) get this driver/id/options."""

    pattern: str
    driver: str | None = None
    device_id: str | None = None
    options: dict[str, OptionValue] = field(default_factory=dict)


def _device_id(rule: SerialRule | None, path: str) -> str | None:
    """A configured path keeps its id; ports matched by a configured glob get the id as a
    prefix plus the port's name (`scanner` + `/dev/ttyACM1` -> `scanner-ttyACM1`)."""
    if rule is None or rule.device_id is None:
        return None
    if not glob.has_magic(rule.pattern):
        return rule.device_id
    name = re.sub(r"[^A-Za-z0-9]+", "-", os.path.basename(path)).strip("-")
    return f"{rule.device_id}-{name}" if name else rule.device_id


class SerialInterface:
    name = "serial"

    def __init__(
        self, rules: Sequence[SerialRule] = (), *, list_system_ports: bool = True,
        lister: PortLister | None = None,
    ) -> None:
        self.rules = list(rules)
        self.list_system_ports = list_system_ports
        self._list = lister or _default_lister

    def _rule(self, path: str) -> SerialRule | None:
        for rule in self.rules:
            if path == rule.pattern or fnmatch.fnmatchcase(path, rule.pattern):
                return rule
        return None

    def enumerate(self) -> list[DeviceDescriptor]:
        found: dict[str, DeviceDescriptor] = {}
        if self.list_system_ports:
            for port in self._list():
                # Built-in UARTs without a USB id are only listed when configured.
                if getattr(port, "vid", None) is None and self._rule(port.device) is None:
                    continue
                found[port.device] = self._describe(
                    port.device, port.vid, port.pid, port.serial_number,
                    port.manufacturer, port.product,
                )
        for rule in self.rules:
            paths = sorted(glob.glob(rule.pattern)) if glob.has_magic(rule.pattern) else [rule.pattern]
            for path in paths:
                if path not in found and os.path.exists(path):
                    found[path] = self._describe(path, None, None, None, None, None)
        return [found[p] for p in sorted(found)]

    def _describe(self, path: str, vid: int | None, pid: int | None, serial_number: str | None,
                  manufacturer: str | None, product: str | None) -> DeviceDescriptor:
        rule = self._rule(path)
        return DeviceDescriptor(
            interface="serial",
            address=DeviceAddress(transport="serial", path=path, vendor_id=vid, product_id=pid,
                                  serial_number=serial_number),
            manufacturer=manufacturer, product=product,
            driver=rule.driver if rule else None,
            device_id=_device_id(rule, path),
            options=dict(rule.options) if rule else {},
        )
