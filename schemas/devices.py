"""Device contracts: what the hardware layer reports about every peripheral.

Modelled on UnifiedPOS: a device has a kind, a state (closed/idle/busy/error), a power state
(online/off/offline/off_offline), a precise cause when something is wrong, and statistics
counters that persist across restarts. The admin API, the CLI, `/metrics` and device events
all speak these structs.
"""

from __future__ import annotations

from typing import Literal

import msgspec

DeviceKind = Literal[
    "receipt_printer", "barcode_scanner", "cash_drawer", "payment_terminal", "customer_display"
]
DeviceState = Literal["closed", "idle", "busy", "error"]
PowerState = Literal["online", "off", "offline", "off_offline", "unknown"]
HealthLevel = Literal["internal", "external", "interactive"]
TransportKind = Literal["usb", "hid", "serial", "tcp", "file"]

# Precise, stable causes: the CLI prints them, monitoring alerts on them.
DeviceCause = Literal[
    "paper_out",
    "paper_near_end",
    "cover_open",
    "offline",
    "timeout",
    "communication_error",
    "drawer_open",
    "not_connected",
    "busy",
    "unsupported",
    # The printer reports an error it cannot name more precisely (DLE EOT 2 bit 6: cutter
    # jam, head overheat, mechanical fault).
    "error",
]

# Counters every driver may bump; unknown names are refused so typos cannot hide data.
STATISTICS: tuple[str, ...] = (
    "lines_printed",
    "cuts",
    "paper_outs",
    "communication_errors",
    "drawer_opens",
    "drawer_kicks",
    "scans",
    "online_transitions",
    "transactions",
    "health_checks",
)


class DeviceAddress(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a device is attached. `path` is a device node, `host`/`port` a network device,
    `vendor_id`/`product_id` a USB or HID id."""

    transport: TransportKind
    path: str | None = None
    host: str | None = None
    port: int | None = None
    vendor_id: int | None = None
    product_id: int | None = None
    serial_number: str | None = None

    def key(self) -> str:
        """Stable identity used to diff enumerations."""
        if self.transport == "tcp":
            return f"tcp:{self.host}:{self.port}"
        if self.transport in ("usb", "hid") and self.vendor_id is not None:
            usb_id = f"{self.vendor_id:04x}:{self.product_id or 0:04x}"
            return f"{self.transport}:{usb_id}:{self.serial_number or self.path or ''}"
        return f"{self.transport}:{self.path}"


class DeviceStatus(msgspec.Struct, frozen=True):
    device_id: str
    kind: DeviceKind | Literal["unsupported"]
    driver: str | None
    address: DeviceAddress
    state: DeviceState
    power: PowerState
    causes: list[DeviceCause]
    lane_id: str | None
    statistics: dict[str, int]
    since_ms: int
    detail: str | None = None


class HealthResult(msgspec.Struct, frozen=True):
    device_id: str
    level: HealthLevel
    ok: bool
    causes: list[DeviceCause]
    detail: str
