"""Promotion events: a coupon entered on a cart, the promotions a cart gets (recorded so every
total is a fold of the log, whatever bundle is active later), and a bundle the store installed
or refused. Listed in `schemas.events.EVENT_TYPES` by `PROMOTION_EVENTS`."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from schemas.eventbase import EventBody
from schemas.promotions import SignedBundle


class SoldPromotion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """On a sold line: one promotion's share of the line's discount."""

    rule_id: str
    discount_minor: int
    name: str = ""


class PromotionLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    line_id: int
    discount_minor: int


class AppliedPromotion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rule_id: str
    name: str
    kind: str
    discount_minor: int
    lines: tuple[PromotionLine, ...]
    coupon_code: str | None = None


class CartCouponEntered(EventBody, frozen=True):
    TYPE: ClassVar[str] = "cart.coupon_entered"
    cart_id: str
    code: str          # normalized (upper case, no blanks)
    rule_id: str


class CartPromotionsApplied(EventBody, frozen=True):
    """The promotions the cart gets from now on (replaces what it had): evaluated by
    `core.promotions.evaluate` after the change that precedes it."""

    TYPE: ClassVar[str] = "cart.promotions_applied"
    cart_id: str
    bundle_version: int | None
    promotions: tuple[AppliedPromotion, ...]


class PromotionBundleInstalled(EventBody, frozen=True):
    TYPE: ClassVar[str] = "promotions.bundle_installed"
    version: int
    key_id: str
    rules: int
    signed: SignedBundle


class PromotionBundleRefused(EventBody, frozen=True):
    TYPE: ClassVar[str] = "promotions.bundle_refused"
    reason: str
    key_id: str = ""
    version: int | None = None


class PromotionKeyPinned(EventBody, frozen=True):
    """The HQ public key bundles must verify against, pinned once: delivered at enrollment
    (`novapos-edge sync enroll`) or, for a store enrolled before HQ had one, by its first
    down-sync (`promotions.key`)."""

    TYPE: ClassVar[str] = "promotions.key_pinned"
    key_id: str
    public_key_b64: str
    source: str  # "enrollment" | "down-sync"


class PromotionKeyRefused(EventBody, frozen=True):
    """Another HQ key offered after one was pinned: not taken (the pinned key stays)."""

    TYPE: ClassVar[str] = "promotions.key_refused"
    key_id: str
    pinned_key_id: str
    source: str


PROMOTION_EVENTS = (CartCouponEntered, CartPromotionsApplied, PromotionBundleInstalled,
                    PromotionBundleRefused, PromotionKeyPinned, PromotionKeyRefused)
