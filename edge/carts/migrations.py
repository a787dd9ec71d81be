"""The carts domain's own schema steps (component "carts"), after the store's baseline."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "carts.version: the seq of the last event that changed the cart", """
    ALTER TABLE carts ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    -- Carts of an existing store get the version a replay of their log would give them: the
    -- last of their own events, of their payments' events and of their sale.
    UPDATE carts SET version = COALESCE((
        SELECT max(e.seq) FROM events e
        WHERE e.stream = 'cart:' || carts.cart_id
           OR (e.type = 'sale.completed' AND e.stream = 'order:' || carts.order_id)
           OR (e.type LIKE 'payment.%' AND e.stream IN (
                SELECT 'payment:' || p.payment_id FROM payments p
                WHERE p.cart_id = carts.cart_id))), 0);
    """),
    Migration(2, "the promotions a cart gets and the coupons entered on it", """
    CREATE TABLE cart_promotions (
        cart_id        TEXT PRIMARY KEY,
        bundle_version INTEGER,
        promotions     BLOB NOT NULL    -- msgspec JSON of the last cart.promotions_applied's
    ) STRICT;
    CREATE TABLE cart_coupons (
        cart_id     TEXT NOT NULL,
        code        TEXT NOT NULL,
        rule_id     TEXT NOT NULL,
        entered_seq INTEGER NOT NULL,
        PRIMARY KEY (cart_id, code)
    ) STRICT;
    """),
    Migration(3, "a completed cart's lines are its order's lines; the cart keeps what only it "
                 "knew", """
    -- A sale's lines are its cart's lines in line order (`edge.orders.commands.complete`), and
    -- `order_lines` keeps their SKU, names, quantities, prices and tax. A completed cart keeps,
    -- as one JSON array on its row, only what the cart alone knew of each line: its line id,
    -- how it is sold, its price lock's expiry, its line discount and the scanned code; its
    -- `cart_lines` rows go. (`edge.carts.projection.CLOSED_LINES` is the same expression.)
    ALTER TABLE carts ADD COLUMN closed_lines TEXT;
    -- A line with no discount and no scanned code (most) is [line_id, sold_by, lock expiry].
    UPDATE carts SET closed_lines = (
        SELECT json_group_array(
            CASE WHEN l.discount_kind IS NULL AND l.discount_value IS NULL
                      AND l.scanned_code IS NULL
                 THEN json_array(l.line_id, l.sold_by, l.lock_expires_at_ms)
                 ELSE json_array(l.line_id, l.sold_by, l.lock_expires_at_ms, l.discount_kind,
                                 l.discount_value, l.scanned_code) END
            ORDER BY l.line_id)
        FROM cart_lines l WHERE l.cart_id = carts.cart_id)
    WHERE status = 'completed';
    DELETE FROM cart_lines WHERE cart_id IN (SELECT cart_id FROM carts
                                             WHERE status = 'completed');
    """),
]
