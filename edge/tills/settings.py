"""[cash]: denominations per currency, the safe-drop warning level and the limits above which
a manager must approve (docs/cash.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec

# Notes and coins in minor units, largest first.
DEFAULT_DENOMINATIONS: dict[str, list[int]] = {
    "EUR": [50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1],
    "USD": [10000, 5000, 2000, 1000, 500, 200, 100, 25, 10, 5, 1],
    "GBP": [5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1],
    "CHF": [100000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5],
}


class CashConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    denominations: dict[str, list[Annotated[int, msgspec.Meta(ge=1)]]] = msgspec.field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_DENOMINATIONS.items()})
    # A drawer expected to hold more than this: "safe drop recommended" (0 = never warn).
    safe_drop_above_minor: Annotated[int, msgspec.Meta(ge=0)] = 50_000
    # A close whose counted cash differs from the expected by more than this needs a manager.
    close_difference_manager_above_minor: Annotated[int, msgspec.Meta(ge=0)] = 500
    # A pay-out above this needs a manager (0: every pay-out does).
    pay_out_manager_above_minor: Annotated[int, msgspec.Meta(ge=0)] = 0
    no_sale_needs_manager: bool = True

    def __post_init__(self) -> None:
        for currency, values in self.denominations.items():
            if len(set(values)) != len(values) or not values:
                raise ValueError(f"cash.denominations.{currency}: values must be distinct, "
                                 "at least one")

    def denominations_of(self, currency: str) -> frozenset[int]:
        return frozenset(self.denominations.get(currency, ()))
