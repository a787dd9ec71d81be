"""[loyalty]: earn rules, the value of a point as a tender, offline burn caps, the tenant key."""

from __future__ import annotations

from typing import Annotated

import msgspec

from core.loyalty import EarnRules

Pct = Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class LoyaltyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Earning: `points_per_unit` points per `unit_minor` of a line's total, times the line's
    # category multiplier (the catalog has no category field yet: a line's tax class stands in)
    # and the customer's tier multiplier, in percent. Excluded SKUs (gift cards, deposits) earn
    # nothing.
    points_per_unit: Annotated[int, msgspec.Meta(ge=0, le=1_000)] = 1
    unit_minor: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100
    category_multiplier_pct: dict[str, Pct] = {}
    tier_multiplier_pct: dict[str, Pct] = {}
    excluded_skus: tuple[str, ...] = ()
    # Burning: a point pays `point_value_minor` as a `points` tender.
    point_value_minor: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1
    # Burns HQ has not counted yet may take at most this many points of one customer (unless
    # HQ sets the customer's own cap), and at most `store_offline_burn_cap_points` in all.
    offline_burn_cap_points: Annotated[int, msgspec.Meta(ge=0)] | None = 5_000
    store_offline_burn_cap_points: Annotated[int, msgspec.Meta(ge=0)] | None = 200_000
    # The tenant's loyalty key (32 bytes, base64) is read from this file in the data
    # directory; `novapos-edge loyalty import-key` writes it.
    key_file: str = "loyalty-tenant.key"
    last_purchases: Annotated[int, msgspec.Meta(ge=0, le=50)] = 5

    def rules(self) -> EarnRules:
        return EarnRules(points_per_unit=self.points_per_unit, unit_minor=self.unit_minor,
                         category_multiplier_pct=dict(self.category_multiplier_pct),
                         tier_multiplier_pct=dict(self.tier_multiplier_pct),
                         excluded_skus=frozenset(self.excluded_skus))
