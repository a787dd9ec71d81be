"""A cart's lines evaluated under the active bundle, as the store sees them: store-local time
from the store's time zone, and each line's scan time while its price lock holds (a promotion
that ends while the cart is open stays on locked lines until their lock expires, like a price).
The result is recorded on the cart as `cart.promotions_applied` (`schemas.promotion_events`).

Who the cart is for (the customer segment a rule may target: the loyalty tier) comes from a
`SegmentOf` the composition root hands the cart policy: loyalty is a later domain than carts,
so neither carts nor promotions import it (`edge.compose`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import apsw

from core import promotions as promo
from core.clock import from_ms
from schemas import promotion_events as pe


# (connection, cart id) -> the segment of the cart's customer, None for an anonymous cart.
SegmentOf = Callable[[apsw.Connection, str], "str | None"]


def no_segment(conn: apsw.Connection, cart_id: str) -> str | None:
    """A store without loyalty: every cart is anonymous."""
    return None


def segment_for(active: promo.ActiveRules | None, segment_of: SegmentOf,
                conn: apsw.Connection, cart_id: str) -> str | None:
    """The cart's segment, asked only when some active rule targets segments."""
    if active is None or not active.segmented:
        return None
    return segment_of(conn, cart_id)


@dataclass(frozen=True, slots=True)
class LineFacts:
    line_id: int
    sku: str
    unit_price_minor: int
    qty_milli: int
    sold_by: str
    lock_expires_at_ms: int


def local(now_ms: int, tz: ZoneInfo) -> datetime:
    """Store-local wall-clock time, naive (how promotion windows are written)."""
    return from_ms(now_ms).astimezone(tz).replace(tzinfo=None)


def evaluate(active: promo.ActiveRules | None, lines: Iterable[LineFacts], coupons: Iterable[str],
             *, store_id: str, tz: ZoneInfo, lock_ttl_ms: int, now_ms: int,
             segment: str | None = None) -> promo.Result:
    facts = []
    for ln in lines:
        held = None
        if now_ms < ln.lock_expires_at_ms:
            held = local(ln.lock_expires_at_ms - lock_ttl_ms, tz)
        facts.append(promo.CartLine(ln.line_id, ln.sku, ln.unit_price_minor, ln.qty_milli,
                                    ln.sold_by, (), held))
    ctx = promo.Context(store_id, local(now_ms, tz), segment, frozenset(coupons))
    return promo.evaluate(facts, active, ctx)


def recorded(result: promo.Result) -> tuple[pe.AppliedPromotion, ...]:
    return tuple(
        pe.AppliedPromotion(
            rule_id=a.rule_id, name=a.name, kind=a.kind, discount_minor=a.discount_minor,
            lines=tuple(pe.PromotionLine(al.line_id, al.discount_minor) for al in a.lines),
            coupon_code=a.coupon_code)
        for a in result.applied)
