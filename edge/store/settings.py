"""The store kernel's sections: [store] (who the store is: tenant, store, currency, time zone,
business day, tax mode), [writer] (group commit), [idempotency] (how long keys are kept) and [retention]
(how long events stay in the hot log)."""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from core.money import CURRENCY_EXPONENTS
from schemas.ids import Id


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


class IdempotencyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    retention_days: Annotated[int, msgspec.Meta(ge=7, le=365)] = 7
    prune_interval_s: Annotated[int, msgspec.Meta(ge=1)] = 3_600


class RetentionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Events the relay acknowledged and older than this leave the store's hot log
    # (`novapos-edge store compact`); the read models (orders, returnable lines, vouchers) stay.
    max_age_days: Annotated[int, msgspec.Meta(ge=30, le=36_500)] = 400
    # The daemon runs retention itself once a store-local day, at `daily_at` (HH:MM, store
    # time zone) or later within `window_minutes` (a daemon down the whole window skips that
    # day); "" turns it off (then run `novapos-edge store compact` from a timer).
    daily_at: Annotated[str, msgspec.Meta(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9])?$")] = "03:30"
    window_minutes: Annotated[int, msgspec.Meta(ge=5, le=1_440)] = 120
    # At most this many events leave in one run (the writer holds its transaction for the
    # delete): a store far behind catches up over several days.
    max_events_per_run: Annotated[int, msgspec.Meta(ge=1_000, le=10_000_000)] = 250_000


class WriterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Requests committed together in one fsync (group commit); none is acknowledged before it.
    max_batch: Annotated[int, msgspec.Meta(ge=1, le=4_096)] = 256
