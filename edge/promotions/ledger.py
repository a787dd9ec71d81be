"""The local coupon ledger: how often this store redeemed a code (its sales that carried it).
A code is accepted on a cart while the store's redemptions are below both the coupon's
`offline_allowance_per_store` and its `max_uses`; HQ sees every store's and lists overuse."""

from __future__ import annotations

import apsw

from core.errors import InvalidInput
from core.promotions import ActiveRules, normalize_code
from core.promotions.rules import CompiledRule


class CouponRefused(InvalidInput):
    """An unknown code, or one this store has redeemed as often as it may."""

    status, slug, title = 422, "coupon-refused", "The coupon cannot be used"


def redeemed(conn: apsw.Connection, code: str) -> int:
    return conn.execute("SELECT count(*) FROM coupon_redemptions WHERE code = ?",
                        (code,)).fetchall()[0][0]


def rule_for_code(active: ActiveRules | None, code: str) -> CompiledRule:
    wanted = normalize_code(code)
    for cr in active.rules if active is not None else ():
        if cr.coupon_code == wanted:
            return cr
    raise CouponRefused(f"no promotion takes the coupon code {wanted!r}", field="code")


def check(conn: apsw.Connection, active: ActiveRules | None, code: str) -> CompiledRule:
    cr = rule_for_code(active, code)
    coupon = cr.rule.coupon
    assert coupon is not None and cr.coupon_code is not None
    used = redeemed(conn, cr.coupon_code)
    allowed = min(coupon.offline_allowance_per_store, coupon.max_uses)
    if used >= allowed:
        raise CouponRefused(f"coupon {cr.coupon_code} was already used {used} time(s) here; "
                            f"this store may redeem it {allowed} time(s)", field="code")
    return cr
