"""Promotion contracts: a rule, the bundle HQ publishes, and the signed envelope it travels in.

A rule is: what it matches (`Target`), what it gives (`effect`, one of the kinds below, tagged
by `kind`), when and where it is in effect (a window in the store's local time, store and
region scope, an optional customer segment and coupon), and how it stacks (`group`,
`exclusive`, `priority`, `base`). `core.promotions` is the one function that evaluates them;
docs/promotions.md says what each field means to a customer.

Money is integer minor units, percentages basis points (10000 = 100 %), times store-local ISO
`YYYY-MM-DDTHH:MM[:SS]` without an offset (a promotion "ends at midnight" wherever the store is).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

BP = 10_000
MAX_RULES_PER_BUNDLE = 20_000
MAX_ITEMS_PER_TARGET = 5_000
MAX_TIERS = 10


class Target(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which units a rule looks at: any of these SKUs or any product in these categories.
    Both empty means every unit in the cart."""

    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def is_cart(self) -> bool:
        return not self.skus and not self.categories


class PercentOff(msgspec.Struct, frozen=True, tag="percent_off", forbid_unknown_fields=True):
    """`percent_bp` off every matching unit (an item or category), or off the matching total
    when `scope` is "cart" (allocated over the lines pro rata)."""

    percent_bp: int
    scope: Literal["item", "cart"] = "item"


class AmountOff(msgspec.Struct, frozen=True, tag="amount_off", forbid_unknown_fields=True):
    """`amount_minor` off every matching unit ("item"), or once off the matching total ("cart")."""

    amount_minor: int
    scope: Literal["item", "cart"] = "item"


class FixedPrice(msgspec.Struct, frozen=True, tag="fixed_price", forbid_unknown_fields=True):
    """Every matching unit sells for `price_minor` (never more than its own price)."""

    price_minor: int


class BuyXGetY(msgspec.Struct, frozen=True, tag="buy_x_get_y", forbid_unknown_fields=True):
    """Buy `buy_qty` of the target, get `get_qty` (of `get`, or of the target itself) at
    `percent_bp` off (10000 = free). `reward` picks which units are rewarded: the cheapest
    (each rewarded unit is never dearer than the units paid for it) or the dearest."""

    buy_qty: int
    get_qty: int
    percent_bp: int = BP
    reward: Literal["cheapest", "dearest"] = "cheapest"
    get: Target | None = None
    max_applications: int | None = None


class MixMatch(msgspec.Struct, frozen=True, tag="mix_match", forbid_unknown_fields=True):
    """Any `qty` units of the target together for `price_minor` (repeatable)."""

    qty: int
    price_minor: int
    max_applications: int | None = None


class Tier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """From `min_qty` units on, each unit gets `percent_bp` off or sells at `unit_price_minor`."""

    min_qty: int
    percent_bp: int | None = None
    unit_price_minor: int | None = None


class MultiBuy(msgspec.Struct, frozen=True, tag="multi_buy", forbid_unknown_fields=True):
    """Quantity tiers over all matching units: the highest tier reached applies to every one."""

    tiers: tuple[Tier, ...]


class SpendThreshold(msgspec.Struct, frozen=True, tag="spend_threshold",
                     forbid_unknown_fields=True):
    """When the matching units come to at least `threshold_minor`: `amount_off_minor` off
    that total, or one unit of `free_sku` free (when the cart holds one)."""

    threshold_minor: int
    amount_off_minor: int = 0
    free_sku: str | None = None


Effect = PercentOff | AmountOff | FixedPrice | BuyXGetY | MixMatch | MultiBuy | SpendThreshold
Kind = Literal["percent_off", "amount_off", "fixed_price", "buy_x_get_y", "mix_match",
               "multi_buy", "spend_threshold"]


class Coupon(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The rule applies only to a cart the code was entered on. `max_uses` across the chain
    (1 = single use); each store may redeem at most `offline_allowance_per_store` times on its
    own ledger before HQ hears of it (HQ lists codes used beyond `max_uses`)."""

    code: str
    max_uses: int = 1
    offline_allowance_per_store: int = 1


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rule_id: str
    name: str
    effect: Effect
    target: Target = Target()
    # Store-local validity window [starts_local, ends_local).
    starts_local: str | None = None
    ends_local: str | None = None
    stores: tuple[str, ...] = ()        # empty: every store
    regions: tuple[str, ...] = ()       # empty: every region
    segments: tuple[str, ...] = ()      # empty: every customer
    coupon: Coupon | None = None
    priority: int = 0                   # higher applies first
    group: str | None = None            # at most one rule of a group applies to a cart
    exclusive: bool = False             # applies alone: no other promotion with it
    base: Literal["discounted", "original"] = "discounted"  # what percentages are taken of


class Bundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every promotion in effect for a tenant, as one versioned, immutable document."""

    version: int
    issued_at_ms: int
    rules: tuple[Rule, ...]
    max_promotions_per_cart: int = 10
    # Merchandise categories rules may target: category -> its SKUs (the catalog has none).
    categories: dict[str, tuple[str, ...]] = {}


class SignedBundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A bundle as it travels: `bundle` is the exact JSON bytes signed (base64), `signature`
    Ed25519 over them (base64), `key_id` names HQ's signing key."""

    key_id: str
    bundle_b64: str
    signature_b64: str


# --- the HQ API and the store's view --------------------------------------------------------


class PublishResult(msgspec.Struct, frozen=True):
    version: int
    rules: int
    key_id: str


class BundleStatus(msgspec.Struct, frozen=True):
    """What a store runs: the active bundle's version (None: none), and the last refusal."""

    active_version: int | None
    rules: int
    key_id: str | None
    last_refused_reason: str | None = None
    last_refused_at_ms: int | None = None
    # The HQ key bundles are verified against: `config` ([promotions] hq_public_key, which
    # overrides), `pinned` (at enrollment or first down-sync), or None when there is none.
    verify_key_id: str | None = None
    verify_key_source: str | None = None


class HqPublicKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """HQ's promotion-signing public key (base64 of the 32 raw Ed25519 bytes), as HQ registers
    it with the relay (`PUT /v1/hq/promotions/key`) and as it travels to stores (down-sync
    kind `promotions.key`, and the enrollment document). `key_id` is derived, never trusted."""

    public_key_b64: Annotated[str, msgspec.Meta(min_length=40, max_length=64)]
    key_id: str = ""


class OveruseRow(msgspec.Struct, frozen=True):
    code: str
    rule_id: str
    max_uses: int
    used: int
    stores: dict[str, int]


class OveruseReport(msgspec.Struct, frozen=True):
    coupons: list[OveruseRow]


class SimulationRow(msgspec.Struct, frozen=True):
    """One rule in one store over the simulated days: what the candidate bundle would have
    given, against what the store's promotions actually gave under that rule id."""

    rule_id: str
    store_id: str
    baskets_hit: int
    discount_minor: int
    baskets_given: int
    given_minor: int


class SimulationReport(msgspec.Struct, frozen=True):
    tenant_id: str
    bundle_version: int
    date_from: str
    date_to: str
    store_id: str | None
    baskets: int
    discount_minor: int          # the candidate bundle, every rule
    given_minor: int             # what promotions gave in those baskets
    rows: list[SimulationRow]
