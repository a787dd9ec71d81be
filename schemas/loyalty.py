"""Loyalty contracts: customers (pseudonymous at rest), points movements, HQ's down-sync of
customers and erasures, and the lane's and HQ's views.

Nothing personal is ever in clear here: a customer is named by an opaque `customer_id`, found
by keyed hashes of its card number, phone or email (`lookup`, hex HMAC-SHA256 under the
tenant's key), and its personal fields (name, email, phone) travel and rest only as `pii`, an
AES-GCM ciphertext under the customer's own data key (`core.pii`). The data key never enters an
event: it lives, wrapped by the tenant's key, in a key table the store and HQ delete it from on
erasure, which leaves every copy of `pii` (in the log, the relay's ledger, an export)
unreadable while the hash chain stays whole.

Points are whole integers; a movement's `points` is always positive, its kind gives the sign.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from schemas.eventbase import EventBody

CustomerId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
LookupHash = Annotated[str, msgspec.Meta(min_length=64, max_length=64, pattern=r"^[0-9a-f]+$")]
Points = Annotated[int, msgspec.Meta(ge=0, le=10**12)]
Tier = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class Consents(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    e_receipts: bool = False
    marketing: bool = False


class PersonalData(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What `pii` decrypts to. Never stored or sent in clear."""

    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    card: Annotated[str, msgspec.Meta(max_length=64)] | None = None


# --- events ----------------------------------------------------------------------------------


class CustomerCached(EventBody, frozen=True):
    """HQ's state of a customer as a store caches it (down-sync): the lookup hashes, the
    ciphertext of its personal data, its tier and balance. `hq_seqs[store_id]` is the last seq
    of that store's log HQ had applied when it computed `balance_points`: the store adds its
    own later movements to it."""

    TYPE: ClassVar[str] = "loyalty.customer_cached"
    customer_id: str
    revision: int
    lookup: tuple[str, ...]
    pii: bytes
    tier: str
    balance_points: int
    hq_seqs: dict[str, int]
    consents: Consents = Consents()
    offline_burn_cap_points: int | None = None


class CustomerErased(EventBody, frozen=True):
    """The customer's data key was destroyed (GDPR erasure at HQ): its `pii` everywhere is
    unreadable from now on. The lookup rows and the cached profile go; points history stays,
    pseudonymous."""

    TYPE: ClassVar[str] = "loyalty.customer_erased"
    customer_id: str
    erased_at_ms: int


class CustomerAttached(EventBody, frozen=True):
    TYPE: ClassVar[str] = "loyalty.customer_attached"
    cart_id: str
    customer_id: str


class CustomerDetached(EventBody, frozen=True):
    """The cart is anonymous again: it earns nothing, its segment promotions stop applying."""

    TYPE: ClassVar[str] = "loyalty.customer_detached"
    cart_id: str
    customer_id: str


class PointsEarned(EventBody, frozen=True):
    """One per sale (the order id is its key): what the sale's eligible lines earned."""

    TYPE: ClassVar[str] = "loyalty.points_earned"
    customer_id: str
    order_id: str
    points: int
    eligible_minor: int
    tier: str
    # Per sold line (line_no -> points), for a pro rata claw-back of returned lines.
    lines: dict[int, int] = {}


class PointsBurned(EventBody, frozen=True):
    """Points paid as a tender (`tender_type: "points"`)."""

    TYPE: ClassVar[str] = "loyalty.points_burned"
    customer_id: str
    cart_id: str
    payment_id: str
    points: int
    amount_minor: int


class PointsReturned(EventBody, frozen=True):
    """Burned points given back: the points tender was voided, or refunded."""

    TYPE: ClassVar[str] = "loyalty.points_returned"
    customer_id: str
    payment_id: str
    points: int
    reason: Literal["void", "refund"]
    refund_id: str | None = None


class PointsClawedBack(EventBody, frozen=True):
    """A refund took back the points its lines had earned (pro rata to the quantity)."""

    TYPE: ClassVar[str] = "loyalty.points_clawed_back"
    customer_id: str
    order_id: str
    refund_id: str
    points: int


LOYALTY_EVENTS: tuple[type[EventBody], ...] = (
    CustomerCached, CustomerErased, CustomerAttached, PointsEarned, PointsBurned,
    PointsReturned, PointsClawedBack, CustomerDetached,
)

# Signed effect of each store movement on a balance.
MOVEMENT_SIGN: dict[str, int] = {
    PointsEarned.TYPE: +1, PointsBurned.TYPE: -1, PointsReturned.TYPE: +1,
    PointsClawedBack.TYPE: -1,
}


# --- down-sync payloads (kind "loyalty.customer", "loyalty.erasure") -------------------------


class CustomerChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A customer as HQ sends it down. `wrapped_key` is the customer's data key wrapped by the
    tenant's key: the store keeps it in its key table, never in the log."""

    customer_id: str
    revision: int
    lookup: tuple[str, ...]
    pii: bytes
    wrapped_key: bytes
    tier: str
    balance_points: int
    hq_seqs: dict[str, int]
    consents: Consents = Consents()
    offline_burn_cap_points: int | None = None


class ErasureChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    customer_id: str
    erased_at_ms: int


# --- lane API --------------------------------------------------------------------------------


class CustomerLookup(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Exactly one: a scanned loyalty card, a phone number or an email."""

    card: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    phone: Annotated[str, msgspec.Meta(min_length=3, max_length=32)] | None = None
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)] | None = None


class AttachCustomer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    customer_id: CustomerId


class Purchase(msgspec.Struct, frozen=True):
    order_id: str
    receipt_number: str
    completed_at_ms: int
    total_minor: int
    points_earned: int


class CustomerView(msgspec.Struct, frozen=True):
    """Customer 360 at the lane. `name` is None once the customer is erased."""

    customer_id: str
    name: str | None
    tier: str
    balance_points: int
    pending_points: int  # this store's movements HQ has not counted yet (in the balance)
    burnable_points: int  # what a points tender may take here now (offline caps applied)
    point_value_minor: int
    consents: Consents
    last_purchases: list[Purchase]
    erased: bool = False


class CustomerSegment(msgspec.Struct, frozen=True):
    """What promotions may know of a cart's customer: no personal data."""

    customer_id: str
    tier: str
    marketing: bool


class CartCustomerView(msgspec.Struct, frozen=True):
    cart_id: str
    customer_id: str | None  # None: removed, the cart is anonymous


# --- HQ API ----------------------------------------------------------------------------------


class TenantKeyChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Down-sync kind "loyalty.tenant_key", for one store: the tenant key sealed for it
    (`core.pii.wrap_for_store`, under its credential `credential_key_id`). Never the key."""

    store_id: str
    credential_key_id: str
    wrapped: bytes


class TierChange(msgspec.Struct, frozen=True):
    customer_id: str
    tier_before: str
    tier: str


class TierRecompute(msgspec.Struct, frozen=True):
    """`POST /v1/hq/loyalty/tiers`: the customers whose tier changed (published down)."""

    changed: list[TierChange]


class EnrollCustomer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    customer_id: CustomerId
    personal: PersonalData
    consents: Consents = Consents()
    balance_points: Points = 0
    offline_burn_cap_points: Points | None = None


class Movement(msgspec.Struct, frozen=True):
    store_id: str | None  # None: written by HQ (a compensation)
    seq: int | None
    type: str
    points: int  # signed
    balance_after: int
    detail: str = ""


class HqCustomerView(msgspec.Struct, frozen=True):
    customer_id: str
    personal: PersonalData | None  # None once erased
    tier: str
    balance_points: int
    earned_12m_points: int
    consents: Consents
    revision: int
    erased: bool
    movements: list[Movement]
