"""The inventory domain's tables (component "inventory"). `stock_levels` is the hot one: a
sale's projection upserts it in one statement."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "stock levels, deliveries, receipts, transfers, adjustments, counts, "
                 "reservations", """
    CREATE TABLE stock_levels (
        sku TEXT PRIMARY KEY,
        on_hand_milli INTEGER NOT NULL DEFAULT 0,
        reserved_milli INTEGER NOT NULL DEFAULT 0,
        safety_milli INTEGER NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    -- Held SKUs are few: the short check and the pick list read them through this.
    CREATE INDEX stock_levels_held ON stock_levels (sku) WHERE reserved_milli > 0;
    CREATE TABLE stock_deliveries (
        delivery_id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        supplier TEXT NOT NULL,
        from_store_id TEXT,
        state TEXT NOT NULL,             -- expected | received
        expected_seq INTEGER,
        receipt_id TEXT
    );
    CREATE TABLE stock_delivery_lines (
        delivery_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        expected_milli INTEGER NOT NULL,
        PRIMARY KEY (delivery_id, sku)
    ) WITHOUT ROWID;
    CREATE TABLE stock_receipts (
        receipt_id TEXT PRIMARY KEY,
        delivery_id TEXT,
        source TEXT NOT NULL,
        from_store_id TEXT,
        note TEXT NOT NULL,
        seq INTEGER NOT NULL
    );
    CREATE TABLE stock_receipt_lines (
        receipt_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        expected_milli INTEGER NOT NULL,
        counted_milli INTEGER NOT NULL,
        discrepancy_milli INTEGER NOT NULL,
        PRIMARY KEY (receipt_id, sku)
    ) WITHOUT ROWID;
    CREATE TABLE stock_transfers (
        transfer_id TEXT PRIMARY KEY,
        to_store_id TEXT NOT NULL,
        state TEXT NOT NULL,             -- requested | shipped
        requested_seq INTEGER,
        shipped_seq INTEGER
    );
    CREATE TABLE stock_transfer_lines (
        transfer_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        requested_milli INTEGER NOT NULL DEFAULT 0,
        shipped_milli INTEGER,
        PRIMARY KEY (transfer_id, sku)
    ) WITHOUT ROWID;
    CREATE TABLE stock_adjustments (
        adjustment_id TEXT PRIMARY KEY,
        sku TEXT NOT NULL,
        delta_milli INTEGER NOT NULL,
        reason TEXT NOT NULL,
        approved_by_role TEXT NOT NULL,
        note TEXT NOT NULL,
        seq INTEGER NOT NULL
    );
    CREATE TABLE stock_counts (
        count_id TEXT PRIMARY KEY,
        section TEXT NOT NULL,
        approved_by_role TEXT NOT NULL,
        seq INTEGER NOT NULL
    );
    CREATE TABLE stock_count_lines (
        count_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        counted_milli INTEGER NOT NULL,
        expected_milli INTEGER NOT NULL,
        variance_milli INTEGER NOT NULL,
        PRIMARY KEY (count_id, sku)
    ) WITHOUT ROWID;
    CREATE TABLE stock_reservations (
        reservation_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        state TEXT NOT NULL,             -- active | released | fulfilled | expired
        created_seq INTEGER NOT NULL,
        ended_seq INTEGER,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX stock_reservations_due ON stock_reservations (expires_at_ms)
        WHERE state = 'active';
    CREATE TABLE stock_reservation_lines (
        reservation_id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        qty_milli INTEGER NOT NULL,
        PRIMARY KEY (reservation_id, line_no)
    ) WITHOUT ROWID;
    """),
]
