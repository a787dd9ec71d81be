"""Device contracts: what the hardware layer reports about every peripheral.

Modelled on UnifiedPOS: a device has a kind, a state (closed/idle/busy/error), a power state
(online/off/offline/off_offline), a precise cause when something is wrong, and statistics
counters that persist across restarts. The admin API, the CLI, `/metrics` and device events
all speak these structs.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.sync_status import SyncStatus

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


# --- discovery, bindings, scans, admin API (hardware layer) ------------------------------

InterfaceName = Literal["usb", "hid", "serial", "network"]
OptionValue = str | int | float | bool


class DeviceDescriptor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One device as an interface enumerated it, before any driver looked at it.

    `driver` and `device_id` come from configuration (a configured serial path or network
    printer names its driver); enumerated USB/HID/serial devices leave them unset and the
    registry picks the best driver by vendor/product id, class or HID usage page.
    """

    interface: InterfaceName
    address: DeviceAddress
    manufacturer: str | None = None
    product: str | None = None
    usb_class: int | None = None
    usage_page: int | None = None
    usage: int | None = None
    driver: str | None = None
    device_id: str | None = None
    options: dict[str, OptionValue] = {}

    def key(self) -> str:
        return self.address.key()


class Scan(msgspec.Struct, frozen=True):
    """One decoded bar code. `scan_id` is unique per physical read: replays of the same scan
    carry the same id, which is what makes adding it to a cart idempotent."""

    scan_id: str
    device_id: str
    code: str
    symbology: str | None
    scanned_at_ms: int


ScanOutcome = Literal["added", "unknown_item", "no_lane", "not_added", "duplicate", "refused"]


class ScanNotice(msgspec.Struct, frozen=True):
    """What a lane's live stream says about a scan by one of its scanners."""

    scan: Scan
    lane_id: str | None
    outcome: ScanOutcome
    cart_id: str | None = None
    detail: str | None = None


class Binding(msgspec.Struct, frozen=True):
    device_id: str
    lane_id: str
    # None: the store default (`[devices] scan_adds_to_cart`).
    scan_adds_to_cart: bool | None
    bound_at_ms: int


LaneId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class BindDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    lane_id: LaneId
    scan_adds_to_cart: bool | None = None


class CheckHealth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    level: HealthLevel = "internal"


class DeviceList(msgspec.Struct, frozen=True):
    devices: list[DeviceStatus]
    bindings: list[Binding]


class PrintQueueStatus(msgspec.Struct, frozen=True):
    device_id: str
    queued: int
    failed: int
    oldest_queued_at_ms: int | None = None


class DaemonState(msgspec.Struct, frozen=True):
    running: bool
    ready: bool
    url: str | None
    pid: int | None = None
    version: str | None = None
    checks: dict[str, str] = {}


class DatabaseState(msgspec.Struct, frozen=True):
    db_bytes: int
    free_disk_bytes: int
    events: int
    orders: int


class StoreStatus(msgspec.Struct, frozen=True):
    """`novapos-edge status` and `GET /v1/admin/status`: everything an IT tech checks first.
    `degraded` is true when any entry of `problems` is set; the CLI exits 1 then."""

    store_id: str
    tenant_id: str
    daemon: DaemonState
    database: DatabaseState
    sync: SyncStatus | None  # the sync engine's report (None: this build cannot report)
    print_queues: list[PrintQueueStatus]
    devices: list[DeviceStatus]
    devices_down: list[str]
    problems: list[str]
    degraded: bool
    # Not degrading on their own (e.g. no libusb on this PC): shown so a tech can act.
    warnings: list[str] = []
