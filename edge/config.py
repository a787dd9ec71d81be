"""Daemon configuration: one msgspec-validated TOML file plus environment overrides. Each
domain owns its section (its `settings` module); this root names them.

Defaults are safe and let the daemon start with no file at all. An environment variable
`NOVAPOS_<SECTION>__<FIELD>` overrides a file value, e.g. `NOVAPOS_STORE__TIMEZONE=Europe/Paris`.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from core.errors import ConfigError, Refused
from core.ratelimit import AuthFailureLimit
from edge.approvals.settings import ApprovalsConfig
from edge.carts.settings import DiscountConfig, PriceLockConfig
from edge.devices.settings import DevicesConfig
from edge.inventory.settings import InventoryConfig
from edge.pickup.settings import PickupConfig
from edge.loyalty.settings import LoyaltyConfig
from edge.fiscal.settings import FiscalConfig
from edge.printing.settings import PrintingConfig
from edge.returns.settings import ReturnsConfig
from edge.promotions.settings import PromotionsConfig
from edge.store.settings import IdempotencyConfig, RetentionConfig, StoreConfig, WriterConfig
from edge.tender.settings import TenderConfig
from edge.tills.settings import CashConfig
from sync.settings import SyncConfig

CONFIG_FILENAME = "config.toml"
ENV_PREFIX = "NOVAPOS_"



class ApiConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65_535)] = 8420
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1_024, le=64 * 1024 * 1024)] = 1024 * 1024


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
    returns: ReturnsConfig = ReturnsConfig()
    inventory: InventoryConfig = InventoryConfig()
    pickup: PickupConfig = PickupConfig()
    promotions: PromotionsConfig = PromotionsConfig()
    auth_limit: AuthFailureLimit = AuthFailureLimit()
    approvals: ApprovalsConfig = ApprovalsConfig()
    loyalty: LoyaltyConfig = LoyaltyConfig()
    cash: CashConfig = CashConfig()
    fiscal: FiscalConfig = FiscalConfig()
    retention: RetentionConfig = RetentionConfig()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Set by `load`, not by the file: legacy keys it moved into [devices] (logged at start).
    moved_keys: tuple[str, ...] = ()




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


# Keys that named devices outside [devices] in earlier releases: still read, moved into
# [devices] (with a warning at start-up, `moved_keys`), so a store's file keeps working.
LEGACY_TERMINAL_ID = "payment-terminal"
_LEGACY_TERMINAL_KEYS = {"terminal_host": "host", "terminal_port": "port",
                         "terminal_password": "password",
                         "terminal_connect_timeout_s": "connect_timeout_s"}


def _move_legacy_device_keys(raw: dict[str, Any]) -> list[str]:
    moved: list[str] = []
    tender = raw.get("tender")
    if isinstance(tender, dict) and any(k in tender for k in _LEGACY_TERMINAL_KEYS):
        old = {new: tender.pop(k) for k, new in _LEGACY_TERMINAL_KEYS.items() if k in tender}
        moved += [f"tender.{k}" for k in _LEGACY_TERMINAL_KEYS if _LEGACY_TERMINAL_KEYS[k] in old]
        devices = raw.setdefault("devices", {})
        if old.get("host"):  # an empty host meant "no terminal"
            devices.setdefault("terminals", []).insert(0, {"id": LEGACY_TERMINAL_ID, **old})
            devices.setdefault("default_terminal", LEGACY_TERMINAL_ID)
    printing = raw.get("printing")
    if isinstance(printing, dict):
        for key in ("printers", "default_printer"):
            if key in printing:
                raw.setdefault("devices", {}).setdefault(key, printing.pop(key))
                moved.append(f"printing.{key}")
    return moved


def _parse_scalar(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load(data_dir: Path | None = None, environ: dict[str, str] | None = None) -> Config:
    raw: dict[str, Any] = {}
    if data_dir is not None and (data_dir / CONFIG_FILENAME).exists():
        path = data_dir / CONFIG_FILENAME
        text = path.read_bytes()
        if not text.strip():
            raise Refused(f"{path} is empty (damaged by a power cut?): refusing to start on "
                          "defaults, which would make this store another store; restore it "
                          "(novapos-edge init writes one)")
        try:
            raw = tomllib.loads(text.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise Refused(f"{path} cannot be read ({exc}); damaged or truncated? Restore it "
                          "before starting") from exc
    raw = _env_overrides(raw, dict(os.environ if environ is None else environ))
    moved = _move_legacy_device_keys(raw)
    try:
        config = msgspec.convert(raw, Config, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    return msgspec.structs.replace(config, moved_keys=tuple(moved)) if moved else config


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
