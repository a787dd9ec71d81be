"""The cart view a lane sees after every change: lines with totals and price-lock state,
tenders, amount due, change and what needs re-pricing."""

from __future__ import annotations


from core import price_lock
from core.clock import from_ms
from edge.carts.model import Cart, Policy
from edge.catalog import lookup
from edge.payments import settlement
from edge.payments.views import tender_view
from schemas import api


def view(conn: lookup.Source, cart: Cart, policy: Policy, now_ms: int) -> api.CartView:
    """`conn` a reader's connection, or a writer command's `Tx` (its catalog is remembered)."""
    totals = cart.totals(policy.tax_mode)
    points = lookup.price_points_for(conn, {ln.sku for ln in cart.lines})
    lines, to_reprice = [], []
    per_line: dict[int, list[api.LinePromotionView]] = {}
    for a in cart.promotions:
        for al in a.lines:
            per_line.setdefault(al.line_id, []).append(
                api.LinePromotionView(a.rule_id, a.name, al.discount_minor))
    for ln, priced in zip(cart.lines, totals.lines):
        promos = per_line.get(ln.line_id, [])
        lv = price_lock.view(ln.locked_price, points[ln.sku], now_ms)
        if lv.would_reprice and not lv.locked:
            to_reprice.append(ln.line_id)
        lines.append(
            api.CartLineView(
                line_id=ln.line_id, sku=ln.sku, product_id=ln.product_id, name=ln.name,
                sold_by=ln.sold_by, qty_milli=ln.qty_milli,  # type: ignore[arg-type]
                unit_price_minor=ln.unit_price_minor, price_version=ln.price_version,
                price_lock=api.PriceLockView(
                    expires_at=from_ms(ln.lock_expires_at_ms), locked=lv.locked,
                    would_reprice=lv.would_reprice,
                    current_unit_price_minor=lv.current.amount_minor if lv.current else None,
                    current_price_version=lv.current.version if lv.current else None,
                ),
                discount=api.DiscountView(ln.discount.kind, ln.discount.value) if ln.discount else None,
                tax_rate_ppm=ln.tax_rate_ppm, gross_minor=priced.gross_minor,
                discount_minor=priced.discount_minor, tax_minor=priced.tax_minor,
                total_minor=priced.total_minor, promotions=promos,
                promotion_minor=min(sum(p.discount_minor for p in promos), priced.gross_minor),
            )
        )
    settled = settlement.preview(totals.total_minor, cart.payments, policy.cash_increment_minor)
    return api.CartView(
        cart_id=cart.cart_id, lane_id=cart.lane_id, status=cart.status,  # type: ignore[arg-type]
        currency=cart.currency, tax_mode=policy.tax_mode,  # type: ignore[arg-type]
        lines=lines,
        discount=api.DiscountView(cart.discount.kind, cart.discount.value) if cart.discount else None,
        tenders=[tender_view(p) for p in cart.payments],
        subtotal_minor=totals.subtotal_minor, discount_minor=totals.discount_minor,
        tax_minor=totals.tax_minor, total_minor=totals.total_minor,
        tendered_minor=settled.tendered_minor, amount_due_minor=settled.amount_due_minor,
        change_due_minor=settled.change_due_minor, lines_to_reprice=to_reprice,
        order_id=cart.order_id, rounding_minor=settled.rounding_minor,
        promotions=[api.PromotionView(a.rule_id, a.name, a.kind, a.discount_minor,
                                      [al.line_id for al in a.lines], a.coupon_code)
                    for a in cart.promotions],
        promotion_saving_minor=sum(lv.promotion_minor for lv in lines),
        promotion_bundle_version=cart.promotion_bundle_version,
        coupons=[code for code, _ in cart.coupons],
    )


