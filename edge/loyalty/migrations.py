"""The loyalty domain's tables (component "loyalty").

`loyalty_keys` is not a read model: it holds each cached customer's data key, wrapped by the
tenant's key, and is deliberately outside the log (a key in an append-only log could never be
destroyed). Down-sync writes it; an erasure deletes it, with SQLite's secure_delete so the
freed bytes are zeroed. Every other table is a projection of the log (`projection.TABLES`).
"""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "customers cached from HQ, look-up hashes, points movements, data keys", """
    CREATE TABLE loyalty_customers (
        customer_id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        tier TEXT NOT NULL,
        hq_balance INTEGER NOT NULL,
        hq_seq INTEGER NOT NULL,          -- this store's last seq HQ had counted
        pii BLOB,                         -- AES-GCM under the customer's data key; NULL once erased
        e_receipts INTEGER NOT NULL,
        marketing INTEGER NOT NULL,
        burn_cap INTEGER,                 -- per-customer offline burn cap (points), NULL: config
        erased INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE loyalty_lookup (
        hash TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX loyalty_lookup_customer ON loyalty_lookup(customer_id);
    CREATE TABLE loyalty_movements (
        seq INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL,
        kind TEXT NOT NULL,               -- earn, burn, return, clawback
        points INTEGER NOT NULL,          -- signed
        order_id TEXT,
        payment_id TEXT,
        refund_id TEXT
    );
    CREATE INDEX loyalty_movements_customer ON loyalty_movements(customer_id, seq);
    CREATE INDEX loyalty_movements_burns ON loyalty_movements(kind, seq);
    CREATE INDEX loyalty_movements_refund ON loyalty_movements(refund_id);
    CREATE TABLE loyalty_earned (
        order_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        points INTEGER NOT NULL,
        lines TEXT NOT NULL,              -- JSON {line_no: points}
        clawed_points INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX loyalty_earned_customer ON loyalty_earned(customer_id);
    CREATE TABLE loyalty_cart_customers (
        cart_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL
    );
    CREATE INDEX loyalty_cart_customers_customer ON loyalty_cart_customers(customer_id);
    CREATE TABLE loyalty_burns (
        payment_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        points INTEGER NOT NULL,
        amount_minor INTEGER NOT NULL,
        returned_points INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE loyalty_keys (
        customer_id TEXT PRIMARY KEY,
        wrapped_key BLOB NOT NULL
    );
    """),
]
