"""Completing a sale. `complete` turns an open, fully tendered cart into one `sale.completed` event that carries
everything HQ needs (lines with unit price, price version and `sold_under_lock`, tenders,
totals, change); the order read model is its projection.
"""

from __future__ import annotations

import apsw

from core import price_lock
from core.ids import uuid7
from edge.carts.commands import refresh_promotions, reprice_lines
from edge.carts.model import Policy, fetch_for
from edge.catalog import lookup
from edge.errors import EmptyCart, PriceLockExpired
from edge.inventory.guard import refuse_overselling
from edge.lanes import Principal
from edge.payments import settlement
from edge.payments.machine import PAID_STATES
from edge.store.writer import Tx
from schemas import events as ev
from schemas import promotion_events as pe


def complete(tx: Tx, who: Principal, policy: Policy, cart_id: str) -> str:
    """Returns the new order id. Raises before appending anything if the sale cannot close."""
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    if not cart.lines:
        raise EmptyCart(f"cart {cart_id} has no lines to sell")
    if policy.refuse_negative_stock:  # off by default: selling is never blocked by stock
        refuse_overselling(tx, ((ln.sku, ln.qty_milli) for ln in cart.lines))
    points = lookup.price_points_for(tx, {ln.sku for ln in cart.lines})
    expired = reprice_lines(cart, points, tx.now_ms, policy.lock_ttl_ms, only_expired=True)
    if expired:
        if policy.on_expiry == "refuse":
            raise PriceLockExpired(
                "the price lock expired on lines whose price has changed; re-price the cart "
                "(POST .../reprice), show the customer the new total, then complete",
                lines=[r.line_id for r in expired],
            )
        tx.append(ev.CartRepriced(cart_id=cart_id, lines=tuple(expired)),
                  stream=f"cart:{cart_id}", lane_id=who.lane_id)
        cart = fetch_for(tx, cart_id, who, must_be_open=True)
    # The promotions as of now: one that ended since the last change comes off (but from
    # lines whose price lock still holds), as a price change would.
    cart = refresh_promotions(tx, who, policy, cart)

    totals = cart.totals(policy.tax_mode)
    promo_of: dict[int, list[pe.SoldPromotion]] = {}
    for a in cart.promotions:
        for al in a.lines:
            promo_of.setdefault(al.line_id, []).append(
                pe.SoldPromotion(a.rule_id, al.discount_minor, a.name))
    settled = settlement.settle(totals.total_minor, cart.payments, policy.cash_increment_minor)
    paid = [p for p in cart.payments if p.state in PAID_STATES]
    receipt_no = _next_receipt_number(tx.conn, policy.store_id)
    order_id = uuid7()
    lines = tuple(
        ev.SoldLine(
            line_no=i, sku=ln.sku, product_id=ln.product_id, name=ln.name,
            qty_milli=ln.qty_milli, unit_price_minor=ln.unit_price_minor,
            price_version=ln.price_version,
            sold_under_lock=price_lock.sold_under_lock(ln.locked_price, points[ln.sku], tx.now_ms),
            tax_class=ln.tax_class, tax_rate_ppm=ln.tax_rate_ppm, gross_minor=p.gross_minor,
            discount_minor=p.discount_minor, tax_minor=p.tax_minor, total_minor=p.total_minor,
            promotions=tuple(promo_of.get(ln.line_id, ())),
            promotion_minor=sum(sp.discount_minor for sp in promo_of.get(ln.line_id, ())),
        )
        for i, (ln, p) in enumerate(zip(cart.lines, totals.lines), start=1)
    )
    # Tender numbers follow the payments' order on the cart (tender_id), which is also how
    # the projection links each payment to the order.
    tenders = tuple(
        ev.SoldTender(tender_no=i, tender_type=p.tender_type, amount_minor=p.captured_minor)
        for i, p in enumerate(paid, start=1)
    )
    tx.append(
        ev.SaleCompleted(
            order_id=order_id, cart_id=cart_id, receipt_number=receipt_no, lane_id=cart.lane_id,
            completed_at_ms=tx.now_ms,
            business_date=tx.business_date,
            currency=cart.currency, tax_mode=policy.tax_mode,  # type: ignore[arg-type]
            lines=lines, tenders=tenders, subtotal_minor=totals.subtotal_minor,
            discount_minor=totals.discount_minor, tax_minor=totals.tax_minor,
            total_minor=totals.total_minor, tendered_minor=settled.tendered_minor,
            change_due_minor=settled.change_due_minor,
            promotion_bundle_version=cart.promotion_bundle_version if cart.promotions else None,
            coupons=tuple(code for code, rule_id in cart.coupons
                          if any(a.rule_id == rule_id for a in cart.promotions)),
        ),
        stream=f"order:{order_id}", lane_id=cart.lane_id,
    )
    return order_id


def _next_receipt_number(conn: apsw.Connection, store_id: str) -> str:
    rows = conn.execute("SELECT value FROM counters WHERE name = 'receipts'").fetchall()
    return f"{store_id}-{(rows[0][0] if rows else 0) + 1:07d}"
