"""The relay's schema, written once for both backends: `core.migrations.Migration`s whose DDL
spells dialect differences as `{BIGINT}`, `{BYTES}` and `{WITHOUT_ROWID}` tokens, rendered by
`core.migrations.render` for SQLite or PostgreSQL. Each backend runs them through
`core.migrations.migrate` with a `Target` of its own version bookkeeping (SQLite:
`PRAGMA user_version`; PostgreSQL: `meta.schema_version`), inside one transaction that also
creates the relay epoch, under a lock that makes processes starting together take turns.

Invariants:
- Append only: a shipped migration is never edited, and keeps its number, so a database at
  version N (made by any earlier build, of either backend) is recognised and upgraded in place.
- The rendered DDL is the same schema on both backends: the same tables, columns, keys and
  index names; only the type names differ.
- The relay epoch is born with the database and changes only by `rotate_epoch`.
"""

from __future__ import annotations

import secrets
import time

from cloud_relay.storage.backend import Tx
from core.migrations import Migration, Target, latest, migrate

COMPONENT = "relay"

MIGRATIONS: list[Migration] = [
    Migration(1, "relay ledger, stores, HQ tokens, down-sync changes", """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tenants (
    tenant_id TEXT PRIMARY KEY,
    next_ledger_seq {BIGINT} NOT NULL,
    last_change_id {BIGINT} NOT NULL,
    created_at_ms {BIGINT} NOT NULL
);
CREATE TABLE stores (
    store_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
    key_id TEXT NOT NULL UNIQUE,
    secret {BYTES} NOT NULL,
    enrolled_at_ms {BIGINT} NOT NULL,
    revoked_at_ms {BIGINT},
    high_seq {BIGINT} NOT NULL,
    last_hash {BYTES} NOT NULL,
    last_seen_ms {BIGINT},
    reported_head_seq {BIGINT},
    applied_change_id {BIGINT} NOT NULL
);
CREATE INDEX stores_tenant ON stores(tenant_id);
CREATE TABLE events (
    store_id TEXT NOT NULL,
    seq {BIGINT} NOT NULL,
    tenant_id TEXT NOT NULL,
    ledger_seq {BIGINT} NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    lane_id TEXT,
    stream TEXT NOT NULL,
    type TEXT NOT NULL,
    schema_version {BIGINT} NOT NULL,
    recorded_at_ms {BIGINT} NOT NULL,
    business_date TEXT NOT NULL,
    body {BYTES} NOT NULL,
    prev_hash {BYTES} NOT NULL,
    hash {BYTES} NOT NULL,
    received_at_ms {BIGINT} NOT NULL,
    quarantine TEXT,
    PRIMARY KEY (store_id, seq),
    UNIQUE (tenant_id, ledger_seq)
) {WITHOUT_ROWID};
-- Reports read sales only: a partial index costs nothing for the other (most) events.
CREATE INDEX events_sales_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'sale.completed';
CREATE INDEX events_quarantine ON events(tenant_id, ledger_seq) WHERE quarantine IS NOT NULL;
CREATE TABLE idempotency_keys (
    store_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint {BYTES} NOT NULL,
    ack {BYTES} NOT NULL,
    created_at_ms {BIGINT} NOT NULL,
    PRIMARY KEY (store_id, key)
);
CREATE TABLE hq_tokens (
    token_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
    token_hash {BYTES} NOT NULL UNIQUE,
    created_at_ms {BIGINT} NOT NULL,
    revoked_at_ms {BIGINT}
);
CREATE TABLE changes (
    tenant_id TEXT NOT NULL,
    change_id {BIGINT} NOT NULL,
    kind TEXT NOT NULL,
    payload {BYTES} NOT NULL,
    store_id TEXT,
    created_at_ms {BIGINT} NOT NULL,
    PRIMARY KEY (tenant_id, change_id)
);
CREATE TABLE hq_tax_classes (tenant_id TEXT, code TEXT, rate_ppm {BIGINT} NOT NULL,
                             PRIMARY KEY (tenant_id, code));
CREATE TABLE hq_skus (tenant_id TEXT, sku TEXT, product_id TEXT NOT NULL,
                      PRIMARY KEY (tenant_id, sku));
CREATE TABLE hq_barcodes (tenant_id TEXT, code TEXT, sku TEXT NOT NULL,
                          PRIMARY KEY (tenant_id, code));
CREATE TABLE hq_prices (
    tenant_id TEXT, sku TEXT, version {BIGINT}, amount_minor {BIGINT} NOT NULL,
    effective_at_ms {BIGINT} NOT NULL,
    PRIMARY KEY (tenant_id, sku, version)
);
"""),
    Migration(2, "partial indexes for refunds and follow-ups (Z report, HQ follow-ups)", """
-- Like events_sales_day: only rows of these rare types get an index entry.
CREATE INDEX events_refund_created_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'order.refund_created';
CREATE INDEX events_refunded_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'payment.refunded';
CREATE INDEX events_forward_declined_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'payment.forward_declined';
CREATE INDEX events_stored_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'payment.stored';
"""),
    Migration(3, "store ids are per tenant: stores, events and idempotency keys keyed by "
              "(tenant_id, store_id)", """
-- Each table is rebuilt (SQLite cannot change a primary key in place) and its rows copied;
-- constraints are named so both dialects give them the same names whatever the old ones were.
DROP INDEX stores_tenant;
ALTER TABLE stores RENAME TO stores_v2;
CREATE TABLE stores (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
    store_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    secret {BYTES} NOT NULL,
    enrolled_at_ms {BIGINT} NOT NULL,
    revoked_at_ms {BIGINT},
    high_seq {BIGINT} NOT NULL,
    last_hash {BYTES} NOT NULL,
    last_seen_ms {BIGINT},
    reported_head_seq {BIGINT},
    applied_change_id {BIGINT} NOT NULL,
    CONSTRAINT stores_pk PRIMARY KEY (tenant_id, store_id),
    CONSTRAINT stores_key_id UNIQUE (key_id)
);
INSERT INTO stores (tenant_id, store_id, key_id, secret, enrolled_at_ms, revoked_at_ms,
                    high_seq, last_hash, last_seen_ms, reported_head_seq, applied_change_id)
    SELECT tenant_id, store_id, key_id, secret, enrolled_at_ms, revoked_at_ms, high_seq,
           last_hash, last_seen_ms, reported_head_seq, applied_change_id FROM stores_v2;

ALTER TABLE idempotency_keys RENAME TO idempotency_keys_v2;
CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint {BYTES} NOT NULL,
    ack {BYTES} NOT NULL,
    created_at_ms {BIGINT} NOT NULL,
    CONSTRAINT idempotency_keys_pk PRIMARY KEY (tenant_id, store_id, key)
);
-- Store ids were unique across the relay until now: the store names its tenant.
INSERT INTO idempotency_keys (tenant_id, store_id, key, fingerprint, ack, created_at_ms)
    SELECT s.tenant_id, k.store_id, k.key, k.fingerprint, k.ack, k.created_at_ms
    FROM idempotency_keys_v2 k JOIN stores_v2 s ON s.store_id = k.store_id;
DROP TABLE idempotency_keys_v2;
DROP TABLE stores_v2;

DROP INDEX events_sales_day;
DROP INDEX events_quarantine;
DROP INDEX events_refund_created_day;
DROP INDEX events_refunded_day;
DROP INDEX events_forward_declined_day;
DROP INDEX events_stored_day;
ALTER TABLE events RENAME TO events_v2;
CREATE TABLE events (
    tenant_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    seq {BIGINT} NOT NULL,
    ledger_seq {BIGINT} NOT NULL,
    event_id TEXT NOT NULL,
    lane_id TEXT,
    stream TEXT NOT NULL,
    type TEXT NOT NULL,
    schema_version {BIGINT} NOT NULL,
    recorded_at_ms {BIGINT} NOT NULL,
    business_date TEXT NOT NULL,
    body {BYTES} NOT NULL,
    prev_hash {BYTES} NOT NULL,
    hash {BYTES} NOT NULL,
    received_at_ms {BIGINT} NOT NULL,
    quarantine TEXT,
    CONSTRAINT events_pk PRIMARY KEY (tenant_id, store_id, seq),
    CONSTRAINT events_ledger UNIQUE (tenant_id, ledger_seq),
    CONSTRAINT events_event_id UNIQUE (tenant_id, event_id)
) {WITHOUT_ROWID};
INSERT INTO events (tenant_id, store_id, seq, ledger_seq, event_id, lane_id, stream, type,
                    schema_version, recorded_at_ms, business_date, body, prev_hash, hash,
                    received_at_ms, quarantine)
    SELECT tenant_id, store_id, seq, ledger_seq, event_id, lane_id, stream, type,
           schema_version, recorded_at_ms, business_date, body, prev_hash, hash,
           received_at_ms, quarantine FROM events_v2;
DROP TABLE events_v2;
CREATE INDEX events_sales_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'sale.completed';
CREATE INDEX events_quarantine ON events(tenant_id, ledger_seq) WHERE quarantine IS NOT NULL;
CREATE INDEX events_refund_created_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'order.refund_created';
CREATE INDEX events_refunded_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'payment.refunded';
CREATE INDEX events_forward_declined_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'payment.forward_declined';
CREATE INDEX events_stored_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'payment.stored';
"""),
    Migration(4, "the replay cache of store signatures (cloud_relay.storage.replay)", """
CREATE TABLE seen_signatures (
    signature {BYTES} NOT NULL,
    expires_at_ms {BIGINT} NOT NULL,
    CONSTRAINT seen_signatures_pk PRIMARY KEY (signature)
) {WITHOUT_ROWID};
CREATE INDEX seen_signatures_expiry ON seen_signatures(expires_at_ms);
"""),
    Migration(5, "partial index for returns (Z report, HQ returns)", """
CREATE INDEX events_returns_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'return.completed';
"""),
    Migration(6, "loyalty at HQ: tenant keys, customers, their data keys, the points ledger "
              "(cloud_relay.storage.loyalty)", """
CREATE TABLE hq_loyalty_keys (
    tenant_id TEXT PRIMARY KEY,
    sealed_key {BYTES} NOT NULL
);
CREATE TABLE hq_customers (
    tenant_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    revision {BIGINT} NOT NULL,
    lookup TEXT NOT NULL,
    pii {BYTES},
    consents TEXT NOT NULL,
    burn_cap {BIGINT},
    balance {BIGINT} NOT NULL,
    applied TEXT NOT NULL,
    tier TEXT NOT NULL,
    erased_at_ms {BIGINT},
    CONSTRAINT hq_customers_pk PRIMARY KEY (tenant_id, customer_id)
);
CREATE TABLE hq_customer_keys (
    tenant_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    wrapped_key {BYTES} NOT NULL,
    CONSTRAINT hq_customer_keys_pk PRIMARY KEY (tenant_id, customer_id)
);
CREATE TABLE hq_customer_changes (
    tenant_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    change_id {BIGINT} NOT NULL,
    CONSTRAINT hq_customer_changes_pk PRIMARY KEY (tenant_id, customer_id, change_id)
);
CREATE TABLE hq_loyalty_entries (
    tenant_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    n {BIGINT} NOT NULL,
    store_id TEXT,
    seq {BIGINT},
    type TEXT NOT NULL,
    points {BIGINT} NOT NULL,
    balance_after {BIGINT} NOT NULL,
    at_ms {BIGINT} NOT NULL,
    detail TEXT NOT NULL,
    CONSTRAINT hq_loyalty_entries_pk PRIMARY KEY (tenant_id, customer_id, n)
);
CREATE TABLE hq_loyalty_cursor (
    tenant_id TEXT PRIMARY KEY,
    ledger_seq {BIGINT} NOT NULL
);
CREATE INDEX events_loyalty ON events(tenant_id, ledger_seq) WHERE type IN
    ('loyalty.points_earned', 'loyalty.points_burned', 'loyalty.points_returned',
     'loyalty.points_clawed_back');
"""),
    Migration(7, "partial index for till closings (the Z report's tills, HQ reconciliation)", """
CREATE INDEX events_till_closed_day ON events(tenant_id, business_date, store_id)
    WHERE type = 'till.closed';
"""),
]
LATEST_VERSION = latest(MIGRATIONS)

# Column order of an inserted `events` row (the envelope's fields, the ledger's metadata).
EVENT_COLUMNS = (
    "store_id", "seq", "tenant_id", "ledger_seq", "event_id", "lane_id", "stream", "type",
    "schema_version", "recorded_at_ms", "business_date", "body", "prev_hash", "hash",
    "received_at_ms", "quarantine",
)

# Event types with a partial index on (tenant_id, business_date, store_id), by the index name
# the migrations above create. A report reading another type needs an index migration too
# (`test_storage_indexes` checks it). Only rows of these (few) types pay for an index entry.
TYPE_INDEXES: dict[str, str] = {
    "sale.completed": "events_sales_day",
    "order.refund_created": "events_refund_created_day",
    "payment.refunded": "events_refunded_day",
    "payment.forward_declined": "events_forward_declined_day",
    "payment.stored": "events_stored_day",
    "return.completed": "events_returns_day",
    "till.closed": "events_till_closed_day",
}
INDEXED_TYPES = frozenset(TYPE_INDEXES)


def note_applied(tx: Tx, version: int) -> None:
    """When a migration was applied, for operators (the version itself is the Target's)."""
    tx.rows("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value",
            (f"migration.{version}.applied_at_ms", str(time.time_ns() // 1_000_000)))


def upgrade(tx: Tx, target: Target) -> str:
    """Bring the database to this build's schema inside `tx`; returns the relay epoch."""
    migrate(target, COMPONENT, MIGRATIONS)
    # The epoch is born with the database: a cursor from any other database is recognisably
    # foreign. A database that already has one keeps it.
    tx.rows("INSERT INTO meta (key, value) VALUES ('relay_epoch', ?) "
            "ON CONFLICT (key) DO NOTHING", (secrets.token_hex(8),))
    row = tx.one("SELECT value FROM meta WHERE key = 'relay_epoch'")
    assert row is not None
    return row[0]
