"""[returns]: the return policy (docs/returns.md), validated at load.

Explicit defaults: a 30 business-day window, no final-sale items, no restocking fee, receipted
returns back to the original tenders, receiptless returns as store credit only at the lowest
price of the last 30 days, at most 3 receiptless returns or 100.00 per customer per 30 days.
Overrides by category (a variant's `category` attribute) and by SKU; a SKU rule wins over its
category's.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Minor = Annotated[int, msgspec.Meta(ge=0, le=10**10)]

DEFAULT_REASONS = ("changed_mind", "defective", "wrong_size", "not_as_described", "damaged",
                   "other")


class RestockingFee(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A fee on a returned line of a category (or SKU): a percent of what was paid for it
    (basis points: 1000 = 10 %) and/or an amount per line, capped per line."""

    category: Code | None = None
    sku: Code | None = None
    percent_bp: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    amount_minor: Minor = 0
    cap_minor: Minor | None = None

    def __post_init__(self) -> None:
        if (self.category is None) == (self.sku is None):
            raise ValueError("a restocking fee names exactly one of category or sku")
        if not self.percent_bp and not self.amount_minor:
            raise ValueError("a restocking fee needs percent_bp or amount_minor")


class WindowOverride(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    category: Code | None = None
    sku: Code | None = None
    window_days: Annotated[int, msgspec.Meta(ge=0, le=3_650)] = 30

    def __post_init__(self) -> None:
        if (self.category is None) == (self.sku is None):
            raise ValueError("a window override names exactly one of category or sku")


class ReturnsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Business days (store-local, the day-close hour applies) from the sale's business date.
    window_days: Annotated[int, msgspec.Meta(ge=0, le=3_650)] = 30
    window_overrides: tuple[WindowOverride, ...] = ()
    # Returned outside the window: refused for a cashier; a manager may make it (flagged).
    reasons: Annotated[tuple[Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,40}$")], ...],
                       msgspec.Meta(min_length=1, max_length=100)] = DEFAULT_REASONS
    # Reasons that never carry a restocking fee (the store's fault, not the customer's).
    fee_free_reasons: tuple[str, ...] = ("defective", "not_as_described", "damaged")
    final_sale_skus: tuple[Code, ...] = ()
    final_sale_categories: tuple[Code, ...] = ()
    restocking_fees: tuple[RestockingFee, ...] = ()
    # "either": the lane chooses; "store_credit": receipted returns go to store credit too.
    receipted_refund_to: Literal["either", "original_tenders", "store_credit"] = "either"
    receiptless_allowed: bool = True
    receiptless_lookback_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    receiptless_needs_manager: bool = False
    # Velocity per customer (keyed hash) over the last `velocity_days`, from the store's log.
    velocity_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    velocity_max_returns: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 3
    velocity_max_minor: Minor = 10_000
    # Flags (recorded, not refusals): a return worth more than this is "high_value"; a
    # receiptless one more than this "receiptless_over_threshold".
    high_value_minor: Minor = 20_000
    receiptless_flag_above_minor: Minor = 5_000
    # A return worth more than this needs a manager (default: the tender refund limit).
    manager_above_minor: Minor | None = None
    # Money back asked onto a card that did not pay the order (card_not_original): "refuse"
    # (409 card-not-original), or "manager": a manager makes it (flagged); the money still
    # goes by the terminal reference of the card that paid (a reissued card of one account).
    other_card: Literal["refuse", "manager"] = "refuse"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fee_free_reasons) - set(self.reasons))
        if unknown:
            raise ValueError(f"returns.fee_free_reasons names reasons not in returns.reasons: "
                             f"{unknown}")
        if len(set(self.reasons)) != len(self.reasons):
            raise ValueError("returns.reasons has duplicates")
        keys = [(f.category, f.sku) for f in self.restocking_fees]
        if len(set(keys)) != len(keys):
            raise ValueError("returns.restocking_fees has two rules for one category or sku")
        keys = [(w.category, w.sku) for w in self.window_overrides]
        if len(set(keys)) != len(keys):
            raise ValueError("returns.window_overrides has two rules for one category or sku")
