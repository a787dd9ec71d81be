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
]
