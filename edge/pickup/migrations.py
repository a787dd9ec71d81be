"""The pickup domain's tables (component "pickup")."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "pickup orders, their lines, picks, rejections and short flags", """
    CREATE TABLE pickup_orders (
        order_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        prepaid INTEGER NOT NULL,
        pickup_code TEXT NOT NULL,
        customer_ref TEXT NOT NULL,
        placed_at_ms INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        accepted_at_ms INTEGER,
        reservation_id TEXT,
        hold_until_ms INTEGER,
        substituted INTEGER NOT NULL DEFAULT 0,
        short INTEGER NOT NULL DEFAULT 0,
        cancel_reason TEXT,
        sale_order_id TEXT,
        last_seq INTEGER NOT NULL
    );
    CREATE INDEX pickup_orders_open ON pickup_orders (state)
        WHERE state IN ('received', 'accepted', 'picking', 'packed', 'ready');
    CREATE TABLE pickup_lines (
        order_id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        name TEXT NOT NULL,
        qty_milli INTEGER NOT NULL,
        unit_price_minor INTEGER NOT NULL,
        picked_milli INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (order_id, line_no)
    ) WITHOUT ROWID;
    CREATE TABLE pickup_picks (
        order_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        sku TEXT NOT NULL,
        qty_milli INTEGER NOT NULL,
        scanned_code TEXT NOT NULL,
        substitute_for TEXT,
        PRIMARY KEY (order_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE pickup_rejections (
        order_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        requested_milli INTEGER NOT NULL,
        available_milli INTEGER NOT NULL,
        PRIMARY KEY (order_id, sku)
    ) WITHOUT ROWID;
    CREATE TABLE pickup_short (
        order_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        short_milli INTEGER NOT NULL,
        PRIMARY KEY (order_id, sku)
    ) WITHOUT ROWID;
    """),
]
