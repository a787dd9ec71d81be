"""The returns domain's own tables (component "returns")."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "returns: the return documents and their lines", """
    CREATE TABLE returns (
        return_id TEXT PRIMARY KEY, kind TEXT NOT NULL, order_id TEXT, receipt_number TEXT,
        lane_id TEXT NOT NULL, currency TEXT NOT NULL, fee_minor INTEGER NOT NULL,
        amount_minor INTEGER NOT NULL, refund_to TEXT NOT NULL, refund_id TEXT,
        store_credit_code TEXT, customer_hash TEXT, flags TEXT NOT NULL,
        approved_by_role TEXT NOT NULL, exchange_order_id TEXT, request_key TEXT NOT NULL,
        business_date TEXT NOT NULL, created_at_ms INTEGER NOT NULL, seq INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX returns_order ON returns(order_id);
    CREATE INDEX returns_refund ON returns(refund_id);
    CREATE INDEX returns_request ON returns(request_key);
    CREATE INDEX returns_customer ON returns(customer_hash, created_at_ms)
        WHERE customer_hash IS NOT NULL;
    CREATE TABLE return_lines (
        return_id TEXT NOT NULL, n INTEGER NOT NULL, order_id TEXT, line_no INTEGER,
        sku TEXT NOT NULL, qty_milli INTEGER NOT NULL, paid_minor INTEGER NOT NULL,
        fee_minor INTEGER NOT NULL, amount_minor INTEGER NOT NULL, reason TEXT NOT NULL,
        disposition TEXT NOT NULL, PRIMARY KEY (return_id, n)
    ) STRICT, WITHOUT ROWID;
    """),
    Migration(2, "returns: find the orders a card paid by its masked PAN and approval code", """
    -- GET /v1/returns/orders?masked_pan=&approval_code= (edge.returns.commands.orders_by_card)
    -- read every payment without it: a scan that grows with the store (64 ms at 20,000
    -- orders in bench/returns.py). Partial: only card tenders carry a masked PAN.
    CREATE INDEX payments_card_pan ON payments(card_masked_pan, card_approval_code)
        WHERE tender_type = 'card';
    """),
]
