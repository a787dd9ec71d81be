"""Daemon configuration: one msgspec-validated TOML file plus environment overrides.

Defaults are safe and let the daemon start with no file at all. An environment variable
`NOVAPOS_<SECTION>__<FIELD>` overrides a file value, e.g. `NOVAPOS_STORE__TIMEZONE=Europe/Paris`.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from core.money import CURRENCY_EXPONENTS

CONFIG_FILENAME = "config.toml"
ENV_PREFIX = "NOVAPOS_"

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class StoreConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tenant_id: Id = "demo-tenant"
    store_id: Id = "store-001"
    name: str = "NovaPOS Demo Store"
    currency: str = "EUR"
    timezone: str = "Europe/Berlin"
    # Sales before this local hour count towards the previous business day.
    day_close_hour: Annotated[int, msgspec.Meta(ge=0, le=23)] = 4
    tax_mode: Literal["inclusive", "exclusive"] = "inclusive"

    def __post_init__(self) -> None:
        if self.currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"unsupported currency {self.currency!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class PriceLockConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ttl_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 900
    # What completing a cart does when a line's lock expired and its price moved:
    # "refuse" answers 409 until the lane re-prices the cart; "reprice" re-prices silently.
    on_expiry: Literal["refuse", "reprice"] = "refuse"


class DiscountConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Discounts worth more than this share of what they apply to need a manager token.
    manager_threshold_bp: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 2_000


class IdempotencyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    retention_days: Annotated[int, msgspec.Meta(ge=7, le=365)] = 7
    prune_interval_s: Annotated[int, msgspec.Meta(ge=1)] = 3_600


class ApiConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65_535)] = 8420
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1_024, le=64 * 1024 * 1024)] = 1024 * 1024


class WriterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Requests committed together in one fsync (group commit); none is acknowledged before it.
    max_batch: Annotated[int, msgspec.Meta(ge=1, le=4_096)] = 256


class TenderConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Tenders and the store's payment terminal (docs/tender.md)."""

    # Cash due is rounded to this many minor units (5 = to 0.05); 1 = no rounding.
    cash_rounding_minor: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    # A refund above this amount needs a manager token.
    refund_manager_above_minor: Annotated[int, msgspec.Meta(ge=0)] = 5_000
    # The ZVT terminal over TCP; empty host = no terminal (card tenders answer 503), except in
    # `serve --demo`, which starts an in-process terminal emulator.
    terminal_host: str = ""
    terminal_port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = 20_007
    terminal_password: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$")] = "000000"
    terminal_connect_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    terminal_transaction_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 120.0
    terminal_status_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    # Offline (store-and-forward) card policy: per payment, per store in total, and age.
    offline_floor_limit_minor: Annotated[int, msgspec.Meta(ge=0)] = 5_000
    offline_cap_minor: Annotated[int, msgspec.Meta(ge=0)] = 50_000
    offline_upload_within_s: Annotated[int, msgspec.Meta(ge=60)] = 86_400
    offline_max_age_s: Annotated[int, msgspec.Meta(ge=60)] = 259_200
    # Background work: reconcile payments left pending, forward stored ones.
    reconcile_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 5.0
    forward_interval_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 60.0

    def __post_init__(self) -> None:
        if self.offline_upload_within_s > self.offline_max_age_s:
            raise ValueError("tender.offline_upload_within_s must not exceed offline_max_age_s")
class PrinterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One receipt printer: where it is, how wide, which lanes print on it."""

    id: Id
    transport: Literal["tcp", "serial", "usb"] = "tcp"
    host: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = 9100
    path: str | None = None
    baudrate: Annotated[int, msgspec.Meta(ge=1_200, le=921_600)] = 19_200
    vendor_id: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)] | None = None
    product_id: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)] | None = None
    columns: Annotated[int, msgspec.Meta(ge=24, le=64)] = 42
    profile: str = "TM-T88V"
    lanes: list[Id] = []
    drawer_pin: Literal[2, 5] = 2
    drawer_open_when_high: bool = False
    status_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=30)] = 2.0

    def __post_init__(self) -> None:
        if self.transport == "tcp" and not self.host:
            raise ValueError(f"printer {self.id}: a tcp printer needs host")
        if self.transport == "serial" and not self.path:
            raise ValueError(f"printer {self.id}: a serial printer needs path")
        if self.transport == "usb" and (self.vendor_id is None or self.product_id is None):
            raise ValueError(f"printer {self.id}: a usb printer needs vendor_id and product_id")


class PrintingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    printers: list[PrinterConfig] = []
    # Printer for lanes no printer lists; unset means those lanes print nothing.
    default_printer: Id | None = None
    header: list[Annotated[str, msgspec.Meta(max_length=64)]] = []
    footer: list[Annotated[str, msgspec.Meta(max_length=64)]] = msgspec.field(
        default_factory=lambda: ["Thank you for shopping with us"])
    receipt_code: Literal["qr", "code128", "none"] = "qr"
    kick_drawer_on_cash: bool = True
    retry_initial_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    retry_max_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 30.0
    # A job is failed after this many attempts (reprint re-queues it); paper out counts too.
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200
    # While a job waits on a stopped printer, its status is polled this often so a fix (paper
    # loaded, cover shut) prints at once instead of after the backoff.
    status_poll_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    idle_status_poll_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 10.0
    # `serve --demo` with no printer configured prints on an emulated one unless this is off.
    demo_printer: bool = True

    def __post_init__(self) -> None:
        ids = [p.id for p in self.printers]
        if len(set(ids)) != len(ids):
            raise ValueError("printing: printer ids must be unique")
        if self.default_printer is not None and self.default_printer not in ids:
            raise ValueError(f"printing: default_printer {self.default_printer!r} is not a printer")
        seen: dict[str, str] = {}
        for p in self.printers:
            for lane in p.lanes:
                if lane in seen:
                    raise ValueError(f"printing: lane {lane} is bound to {seen[lane]} and {p.id}")
                seen[lane] = p.id
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("printing: retry_max_s must be at least retry_initial_s")

    def printer_for_lane(self, lane_id: str) -> str | None:
        for p in self.printers:
            if lane_id in p.lanes:
                return p.id
        return self.default_printer


class SyncConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Upload of the log to the cloud relay and down-sync of catalog and settings.

    Sync runs when `relay_url` is set and the credential file exists (`novapos-edge sync
    enroll`). A relative `credential_file` or `tls_ca_file` is resolved in the data dir."""

    relay_url: str = ""
    credential_file: str = "sync-credential.json"
    # PEM bundle of the CA(s) that signed the relay's certificate; empty = system trust store.
    tls_ca_file: str = ""
    max_batch_events: Annotated[int, msgspec.Meta(ge=1, le=5_000)] = 5_000
    # Uncompressed, estimated from above; the relay refuses more than 8 MiB. Big batches
    # amortise the relay's per-batch commit (about 130 compressed bytes per sale on the wire).
    max_batch_bytes: Annotated[int, msgspec.Meta(ge=4_096, le=8 * 1024 * 1024)] = 8_000_000
    backoff_base_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5
    backoff_cap_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 60.0
    # How often an idle engine looks for new events and for down-sync changes.
    poll_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 2.0
    downsync_interval_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 30.0
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0


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
    # The payment terminal ([tender]) gets a status enquiry this often when no payment holds
    # it, so a terminal that went away shows as down (and back up) without waiting for a sale.
    terminal_poll_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 15.0

    def __post_init__(self) -> None:
        ids = [d.id for d in self.configured]
        if len(ids) != len(set(ids)):
            raise ValueError("devices.configured: device ids must be unique")


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    store: StoreConfig = StoreConfig()
    price_lock: PriceLockConfig = PriceLockConfig()
    discounts: DiscountConfig = DiscountConfig()
    idempotency: IdempotencyConfig = IdempotencyConfig()
    api: ApiConfig = ApiConfig()
    writer: WriterConfig = WriterConfig()
    tender: TenderConfig = TenderConfig()
    devices: DevicesConfig = DevicesConfig()
    printing: PrintingConfig = PrintingConfig()
    sync: SyncConfig = SyncConfig()
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class ConfigError(ValueError):
    pass


def _env_overrides(raw: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, field = name[len(ENV_PREFIX):].lower().partition("__")
        if section not in Config.__struct_fields__:
            continue
        merged.setdefault(section, {})[field] = _parse_scalar(value)
    return merged


def _parse_scalar(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load(data_dir: Path | None = None, environ: dict[str, str] | None = None) -> Config:
    raw: dict[str, Any] = {}
    if data_dir is not None and (data_dir / CONFIG_FILENAME).exists():
        path = data_dir / CONFIG_FILENAME
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    raw = _env_overrides(raw, dict(os.environ if environ is None else environ))
    try:
        return msgspec.convert(raw, Config, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc


def render_toml(store: StoreConfig) -> str:
    """The config file `novapos-edge init` writes: the store identity, everything else default."""
    return (
        "# NovaPOS Edge store configuration. Unset keys take safe defaults; any key can be\n"
        "# overridden by NOVAPOS_<SECTION>__<KEY> in the environment.\n\n"
        "[store]\n"
        f"tenant_id = {json.dumps(store.tenant_id)}\n"
        f"store_id = {json.dumps(store.store_id)}\n"
        f"name = {json.dumps(store.name)}\n"
        f"currency = {json.dumps(store.currency)}\n"
        f"timezone = {json.dumps(store.timezone)}\n"
        f"day_close_hour = {store.day_close_hour}\n"
        f'tax_mode = "{store.tax_mode}"\n\n'
        "[price_lock]\nttl_s = 900\non_expiry = \"refuse\"\n"
    )
