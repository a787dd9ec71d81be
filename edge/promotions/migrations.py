"""The promotions domain's schema (component "promotions")."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "promotion bundles, the active one and the last refusal, the coupon ledger", """
    CREATE TABLE promotion_bundles (
        version       INTEGER PRIMARY KEY,
        key_id        TEXT NOT NULL,
        rules         INTEGER NOT NULL,
        signed        BLOB NOT NULL,          -- msgspec JSON of schemas.promotions.SignedBundle
        installed_seq INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE promotion_state (
        id               INTEGER PRIMARY KEY CHECK (id = 1),
        active_version   INTEGER,
        refused_reason   TEXT,
        refused_version  INTEGER,
        refused_at_ms    INTEGER
    ) STRICT;
    CREATE TABLE order_line_promotions (
        order_id       TEXT NOT NULL,
        line_no        INTEGER NOT NULL,
        rule_id        TEXT NOT NULL,
        name           TEXT NOT NULL,
        discount_minor INTEGER NOT NULL,
        PRIMARY KEY (order_id, line_no, rule_id)
    ) STRICT;
    CREATE TABLE coupon_redemptions (
        code           TEXT NOT NULL,
        order_id       TEXT NOT NULL,
        redeemed_at_ms INTEGER NOT NULL,
        PRIMARY KEY (code, order_id)
    ) STRICT;
    """),
    Migration(2, "the pinned HQ key", """
    CREATE TABLE promotion_key (
        id             INTEGER PRIMARY KEY CHECK (id = 1),
        key_id         TEXT NOT NULL,
        public_key_b64 TEXT NOT NULL,
        source         TEXT NOT NULL,
        pinned_seq     INTEGER NOT NULL
    ) STRICT;
    """),
]
