"""[devices]: discovery, hot-plug polling, configured devices, scanning, the device stream
and mDNS (docs/devices.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from edge.printing.settings import PrinterConfig
from edge.tender.settings import TerminalConfig
from schemas.ids import Id

OptionValue = str | int | float | bool


class ConfiguredDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A device the store names explicitly: a network printer (`host`/`port`), a serial port or
    glob (`path`). `driver` picks the driver; `lane_id` binds it to a lane on first sight
    (a binding made later through the admin API wins)."""

    id: Id
    driver: Id
    path: str | None = None
    host: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] | None = None
    lane_id: Id | None = None
    options: dict[str, OptionValue] = {}

    def __post_init__(self) -> None:
        if (self.path is None) == (self.host is None):
            raise ValueError(f"device {self.id}: set either path (serial) or host+port (network)")
        if self.host is not None and self.port is None:
            raise ValueError(f"device {self.id}: a network device needs a port")


class DevicesConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """[devices]: discovery, hot-plug polling, scanning and the device stream."""

    # Off: no discovery or drivers at all (the admin API and status still answer).
    enabled: bool = True
    poll_interval_s: Annotated[float, msgspec.Meta(ge=0.05, le=300)] = 2.0
    usb: bool = True
    hid: bool = True
    # USB serial ports from the OS listing; extra paths/globs come from `serial_globs` and
    # configured devices.
    serial_system_ports: bool = True
    serial_globs: list[str] = []
    # A scan on a lane's scanner adds the item to that lane's open cart (a binding may override).
    scan_adds_to_cart: bool = True
    stream_keepalive_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 15.0
    # Counters are written to the database at most this long after they change.
    statistics_flush_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    # Advertise the daemon as _novapos-edge._tcp on the LAN; empty interfaces = all.
    mdns: bool = True
    mdns_interfaces: list[str] = []
    configured: list[ConfiguredDevice] = []
    # Receipt printers; a lane prints on the printer that lists it (or is bound to it), else on
    # `default_printer` (unset: lanes no printer lists print nothing).
    printers: list[PrinterConfig] = []
    default_printer: Id | None = None
    # Payment terminals; a lane takes cards on the terminal that lists it, else on
    # `default_terminal` (unset: lanes no terminal lists take no cards).
    terminals: list[TerminalConfig] = []
    default_terminal: Id | None = None
    # The payment terminal ([tender]) gets a status enquiry this often when no payment holds
    # it, so a terminal that went away shows as down (and back up) without waiting for a sale.
    terminal_poll_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 15.0

    def __post_init__(self) -> None:
        ids = ([d.id for d in self.configured] + [t.id for t in self.terminals]
               + [p.id for p in self.printers])
        if len(ids) != len(set(ids)):
            raise ValueError("devices: device ids must be unique")
        _check_lanes("printer", self.printers, self.default_printer)
        _check_lanes("terminal", self.terminals, self.default_terminal)

    def printer_for_lane(self, lane_id: str) -> str | None:
        return _for_lane(self.printers, lane_id, self.default_printer)

    def terminal_for_lane(self, lane_id: str) -> str | None:
        return _for_lane(self.terminals, lane_id, self.default_terminal)


def _check_lanes(kind: str, devices: list, default: str | None) -> None:
    """Each lane is served by at most one device of a kind; the default names one of them."""
    if default is not None and default not in [d.id for d in devices]:
        raise ValueError(f"devices: default_{kind} {default!r} is not a {kind}")
    seen: dict[str, str] = {}
    for d in devices:
        for lane in d.lanes:
            if lane in seen:
                raise ValueError(f"devices: lane {lane} is bound to {kind}s {seen[lane]} and "
                                 f"{d.id}")
            seen[lane] = d.id


def _for_lane(devices: list, lane_id: str, default: str | None) -> str | None:
    for d in devices:
        if lane_id in d.lanes:
            return d.id
    return default
