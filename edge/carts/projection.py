"""Cart read models: open carts, their lines, discounts and locked prices, and the counters
that number a cart's lines and tenders. A sale or a void closes the cart; a sale's lines are
its cart's lines, so a completed cart's `cart_lines` rows go and its row keeps, in
`closed_lines`, only what its order's lines do not say (`CLOSED_LINES`).

`carts.version` is the seq of the last event that changed what `edge.carts.model.load`
reads: the cart's own events, every event of its payments, its sale. The writer's memo of
carts trusts a remembered cart only at the row's version."""

from __future__ import annotations

import msgspec

from edge.payments.projection import PAYMENT_EVENTS
from edge.store.projector import Registrations
from schemas import events as ev
from schemas import promotion_events as pe
from schemas.envelope import Event

PROJECTIONS = Registrations()


def _touch(conn, seq: int, cart_id: str) -> None:
    conn.execute("UPDATE carts SET version=? WHERE cart_id=?", (seq, cart_id))
TABLES = {
    "carts": "cart_id",
    "cart_lines": "cart_id, line_id",
    "cart_tenders": "cart_id, tender_id",
    "cart_promotions": "cart_id",
    "cart_coupons": "cart_id, code",
}


@PROJECTIONS.on(ev.CartOpened)
def _cart_opened(conn, stored: Event, body: ev.CartOpened) -> None:
    conn.execute(
        "INSERT INTO carts(cart_id, lane_id, status, currency, opened_at_ms, next_line_id, "
        "next_tender_id, version) VALUES (?,?,'open',?,?,1,1,?)",
        (body.cart_id, body.lane_id, body.currency, body.opened_at_ms, stored.seq),
    )


@PROJECTIONS.on(ev.CartLineAdded)
def _line_added(conn, stored: Event, b: ev.CartLineAdded) -> None:
    conn.execute(
        "INSERT INTO cart_lines(cart_id, line_id, sku, product_id, name, sold_by, qty_milli, "
        "unit_price_minor, price_version, lock_expires_at_ms, tax_class, tax_rate_ppm, "
        "scanned_code) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (b.cart_id, b.line_id, b.sku, b.product_id, b.name, b.sold_by, b.qty_milli,
         b.unit_price_minor, b.price_version, b.lock_expires_at_ms, b.tax_class,
         b.tax_rate_ppm, b.scanned_code),
    )
    conn.execute("UPDATE carts SET next_line_id=?, version=? WHERE cart_id=?",
                 (b.line_id + 1, stored.seq, b.cart_id))


@PROJECTIONS.on(ev.CartLineQtyChanged)
def _qty(conn, stored: Event, b: ev.CartLineQtyChanged) -> None:
    conn.execute(
        "UPDATE cart_lines SET qty_milli=? WHERE cart_id=? AND line_id=?",
        (b.qty_milli, b.cart_id, b.line_id),
    )
    _touch(conn, stored.seq, b.cart_id)


@PROJECTIONS.on(ev.CartLineRemoved)
def _removed(conn, stored: Event, b: ev.CartLineRemoved) -> None:
    conn.execute("DELETE FROM cart_lines WHERE cart_id=? AND line_id=?", (b.cart_id, b.line_id))
    _touch(conn, stored.seq, b.cart_id)


@PROJECTIONS.on(ev.CartDiscountApplied)
def _discount(conn, stored: Event, b: ev.CartDiscountApplied) -> None:
    if b.line_id is None:
        conn.execute(
            "UPDATE carts SET discount_kind=?, discount_value=?, version=? WHERE cart_id=?",
            (b.kind, b.value, stored.seq, b.cart_id),
        )
    else:
        conn.execute(
            "UPDATE cart_lines SET discount_kind=?, discount_value=? WHERE cart_id=? AND line_id=?",
            (b.kind, b.value, b.cart_id, b.line_id),
        )
        _touch(conn, stored.seq, b.cart_id)


@PROJECTIONS.on(ev.CartRepriced)
def _repriced(conn, stored: Event, b: ev.CartRepriced) -> None:
    for ln in b.lines:
        conn.execute(
            "UPDATE cart_lines SET unit_price_minor=?, price_version=?, lock_expires_at_ms=? "
            "WHERE cart_id=? AND line_id=?",
            (ln.unit_price_minor, ln.price_version, ln.lock_expires_at_ms, b.cart_id, ln.line_id),
        )
    _touch(conn, stored.seq, b.cart_id)


@PROJECTIONS.on(pe.CartPromotionsApplied)
def _promotions(conn, stored: Event, b: pe.CartPromotionsApplied) -> None:
    conn.execute(
        "INSERT INTO cart_promotions(cart_id, bundle_version, promotions) VALUES (?,?,?) "
        "ON CONFLICT(cart_id) DO UPDATE SET bundle_version = excluded.bundle_version, "
        "promotions = excluded.promotions",
        (b.cart_id, b.bundle_version, msgspec.json.encode(b.promotions)))
    _touch(conn, stored.seq, b.cart_id)


@PROJECTIONS.on(pe.CartCouponEntered)
def _coupon(conn, stored: Event, b: pe.CartCouponEntered) -> None:
    conn.execute("INSERT INTO cart_coupons(cart_id, code, rule_id, entered_seq) VALUES (?,?,?,?)",
                 (b.cart_id, b.code, b.rule_id, stored.seq))
    _touch(conn, stored.seq, b.cart_id)


@PROJECTIONS.on(ev.CartTenderAdded)
def _tender(conn, stored: Event, b: ev.CartTenderAdded) -> None:
    # Cash tendered on the cart before tenders became payments (older logs).
    conn.execute(
        "INSERT INTO cart_tenders(cart_id, tender_id, tender_type, amount_minor) VALUES (?,?,?,?)",
        (b.cart_id, b.tender_id, b.tender_type, b.amount_minor),
    )
    conn.execute("UPDATE carts SET next_tender_id=?, version=? WHERE cart_id=?",
                 (b.tender_id + 1, stored.seq, b.cart_id))


@PROJECTIONS.on(ev.PaymentCreated)
def _tender_numbered(conn, stored: Event, b: ev.PaymentCreated) -> None:
    conn.execute("UPDATE carts SET next_tender_id=?, version=? WHERE cart_id=?",
                 (b.tender_id + 1, stored.seq, b.cart_id))


@PROJECTIONS.on(*(t for t in PAYMENT_EVENTS if t is not ev.PaymentCreated))
def _payment_moved(conn, stored: Event, b) -> None:
    # The payments projection ran first (payments precede carts): the row names the cart.
    conn.execute("UPDATE carts SET version=? WHERE cart_id=(SELECT cart_id FROM payments "
                 "WHERE payment_id=?)", (stored.seq, b.payment_id))


@PROJECTIONS.on(ev.CartVoided)
def _voided(conn, stored: Event, b: ev.CartVoided) -> None:
    conn.execute(
        "UPDATE carts SET status='voided', closed_at_seq=?, version=? WHERE cart_id=?",
        (stored.seq, stored.seq, b.cart_id)
    )


# What a completed cart keeps of each line beyond its order's line (carts migration 3 writes
# the same for the carts it upgrades): `edge.carts.model.load` joins the two.
# A line with no discount and no scanned code (most) is [line_id, sold_by, lock expiry].
CLOSED_LINES = (
    "SELECT json_group_array(CASE WHEN l.discount_kind IS NULL AND l.discount_value IS NULL "
    "AND l.scanned_code IS NULL THEN json_array(l.line_id, l.sold_by, l.lock_expires_at_ms) "
    "ELSE json_array(l.line_id, l.sold_by, l.lock_expires_at_ms, l.discount_kind, "
    "l.discount_value, l.scanned_code) END ORDER BY l.line_id) "
    "FROM cart_lines l WHERE l.cart_id = ?"
)


@PROJECTIONS.on(ev.SaleCompleted)
def _sold(conn, stored: Event, s: ev.SaleCompleted) -> None:
    # The sale's lines are the cart's lines in line order (the orders projection keeps them in
    # `order_lines`); the cart's own rows of them go, what only the cart knew stays on its row.
    conn.execute(
        "UPDATE carts SET status='completed', order_id=?, closed_at_seq=?, version=?, "
        f"closed_lines=({CLOSED_LINES}) WHERE cart_id=?",
        (s.order_id, stored.seq, stored.seq, s.cart_id, s.cart_id),
    )
    conn.execute("DELETE FROM cart_lines WHERE cart_id=?", (s.cart_id,))
