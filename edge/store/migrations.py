"""The store database's baseline schema: the event log, lanes, idempotency keys, and the tables
of the first domains (catalog, carts, orders, payments, vouchers, refunds, print jobs, devices,
sync). Versioned in `PRAGMA user_version`; append only: a shipped migration is never edited.
Domains added later version their own tables (`edge.domain.Domain.migrations`).

Which tables are read models (rebuilt from the log by `edge.store.rebuild`) each domain says in
its `projection` module; every other table (events, lanes, idempotency keys, meta, print jobs,
device bindings, sync state) is primary state.
"""

from __future__ import annotations

from core.migrations import Migration

COMPONENT = "store"

_MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "event log, lanes, idempotency keys",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

        CREATE TABLE events (
            seq            INTEGER PRIMARY KEY,
            event_id       TEXT NOT NULL UNIQUE,
            tenant_id      TEXT NOT NULL,
            store_id       TEXT NOT NULL,
            lane_id        TEXT,
            stream         TEXT NOT NULL,
            type           TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            recorded_at_ms INTEGER NOT NULL,
            business_date  TEXT NOT NULL,
            body           BLOB NOT NULL,
            prev_hash      BLOB NOT NULL,
            hash           BLOB NOT NULL
        ) STRICT;
        CREATE INDEX events_stream ON events(stream, seq);
        -- Append-only, enforced by the database itself.
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

        CREATE TABLE lane_tokens (
            token_hash  BLOB PRIMARY KEY,
            token_id    TEXT NOT NULL UNIQUE,
            tenant_id   TEXT NOT NULL,
            store_id    TEXT NOT NULL,
            lane_id     TEXT NOT NULL,
            role        TEXT NOT NULL CHECK (role IN ('cashier', 'manager')),
            created_at_ms INTEGER NOT NULL,
            revoked_at_ms INTEGER
        ) STRICT;

        CREATE TABLE idempotency_keys (
            lane_id       TEXT NOT NULL,
            key           TEXT NOT NULL,
            fingerprint   BLOB NOT NULL,
            status        INTEGER NOT NULL,
            body          BLOB NOT NULL,
            created_at_ms INTEGER NOT NULL,
            PRIMARY KEY (lane_id, key)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX idempotency_keys_age ON idempotency_keys(created_at_ms);
        """,
    ),
    (
        2,
        "projections: catalog, carts, orders",
        """
        CREATE TABLE tax_classes (code TEXT PRIMARY KEY, rate_ppm INTEGER NOT NULL,
                                  name TEXT NOT NULL) STRICT;
        CREATE TABLE products (product_id TEXT PRIMARY KEY, name TEXT NOT NULL,
                               tax_class TEXT NOT NULL, sold_by TEXT NOT NULL) STRICT;
        CREATE TABLE variants (sku TEXT PRIMARY KEY, product_id TEXT NOT NULL,
                               attributes TEXT NOT NULL) STRICT;
        CREATE INDEX variants_product ON variants(product_id);
        CREATE TABLE barcodes (code TEXT PRIMARY KEY, sku TEXT NOT NULL) STRICT;
        CREATE INDEX barcodes_sku ON barcodes(sku);
        CREATE TABLE prices (sku TEXT NOT NULL, version INTEGER NOT NULL,
                             amount_minor INTEGER NOT NULL, effective_at_ms INTEGER NOT NULL,
                             PRIMARY KEY (sku, version)) STRICT, WITHOUT ROWID;

        CREATE TABLE carts (
            cart_id TEXT PRIMARY KEY, lane_id TEXT NOT NULL, status TEXT NOT NULL,
            currency TEXT NOT NULL, opened_at_ms INTEGER NOT NULL,
            discount_kind TEXT, discount_value INTEGER,
            next_line_id INTEGER NOT NULL, next_tender_id INTEGER NOT NULL,
            order_id TEXT, closed_at_seq INTEGER
        ) STRICT;
        CREATE TABLE cart_lines (
            cart_id TEXT NOT NULL, line_id INTEGER NOT NULL, sku TEXT NOT NULL,
            product_id TEXT NOT NULL, name TEXT NOT NULL, sold_by TEXT NOT NULL,
            qty_milli INTEGER NOT NULL, unit_price_minor INTEGER NOT NULL,
            price_version INTEGER NOT NULL, lock_expires_at_ms INTEGER NOT NULL,
            tax_class TEXT NOT NULL, tax_rate_ppm INTEGER NOT NULL,
            discount_kind TEXT, discount_value INTEGER, scanned_code TEXT,
            PRIMARY KEY (cart_id, line_id)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE cart_tenders (
            cart_id TEXT NOT NULL, tender_id INTEGER NOT NULL, tender_type TEXT NOT NULL,
            amount_minor INTEGER NOT NULL, PRIMARY KEY (cart_id, tender_id)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE orders (
            order_id TEXT PRIMARY KEY, cart_id TEXT NOT NULL UNIQUE,
            receipt_number TEXT NOT NULL UNIQUE, lane_id TEXT NOT NULL,
            completed_at_ms INTEGER NOT NULL, business_date TEXT NOT NULL,
            currency TEXT NOT NULL, tax_mode TEXT NOT NULL,
            subtotal_minor INTEGER NOT NULL, discount_minor INTEGER NOT NULL,
            tax_minor INTEGER NOT NULL, total_minor INTEGER NOT NULL,
            tendered_minor INTEGER NOT NULL, change_due_minor INTEGER NOT NULL,
            event_seq INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX orders_business_date ON orders(business_date);
        CREATE TABLE order_lines (
            order_id TEXT NOT NULL, line_no INTEGER NOT NULL, sku TEXT NOT NULL,
            product_id TEXT NOT NULL, name TEXT NOT NULL, qty_milli INTEGER NOT NULL,
            unit_price_minor INTEGER NOT NULL, price_version INTEGER NOT NULL,
            sold_under_lock INTEGER NOT NULL, tax_class TEXT NOT NULL,
            tax_rate_ppm INTEGER NOT NULL, gross_minor INTEGER NOT NULL,
            discount_minor INTEGER NOT NULL, tax_minor INTEGER NOT NULL,
            total_minor INTEGER NOT NULL, PRIMARY KEY (order_id, line_no)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE order_tenders (
            order_id TEXT NOT NULL, tender_no INTEGER NOT NULL, tender_type TEXT NOT NULL,
            amount_minor INTEGER NOT NULL, PRIMARY KEY (order_id, tender_no)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
        """,
    ),
    (
        3,
        "projections: payments (tender state machine), vouchers, refunds",
        """
        CREATE TABLE payments (
            payment_id TEXT PRIMARY KEY, cart_id TEXT NOT NULL, tender_id INTEGER NOT NULL,
            lane_id TEXT NOT NULL, tender_type TEXT NOT NULL, currency TEXT NOT NULL,
            amount_minor INTEGER NOT NULL, request_key TEXT NOT NULL, state TEXT NOT NULL,
            prior_state TEXT, captured_minor INTEGER NOT NULL, change_minor INTEGER NOT NULL,
            refunded_minor INTEGER NOT NULL, pending_refund_minor INTEGER NOT NULL,
            pending_refund_id TEXT, voucher_code TEXT, reference TEXT,
            card_terminal_id TEXT, card_trace_no INTEGER, card_receipt_no INTEGER,
            card_approval_code TEXT, card_masked_pan TEXT, card_brand TEXT, card_token TEXT,
            terminal_id TEXT, stored_at_ms INTEGER, order_id TEXT,
            created_at_ms INTEGER NOT NULL, updated_seq INTEGER NOT NULL,
            UNIQUE (cart_id, tender_id)
        ) STRICT;
        CREATE INDEX payments_order ON payments(order_id);
        CREATE INDEX payments_state ON payments(state);
        CREATE INDEX payments_request ON payments(request_key);
        CREATE INDEX payments_card_ref ON payments(card_terminal_id, card_receipt_no);

        CREATE TABLE vouchers (
            code TEXT PRIMARY KEY, currency TEXT NOT NULL, issued_minor INTEGER NOT NULL,
            balance_minor INTEGER NOT NULL CHECK (balance_minor >= 0),
            issued_seq INTEGER NOT NULL, updated_seq INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE refunds (
            refund_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, lane_id TEXT NOT NULL,
            amount_minor INTEGER NOT NULL, approved_by_role TEXT NOT NULL, reason TEXT NOT NULL,
            request_key TEXT NOT NULL, created_seq INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX refunds_order ON refunds(order_id);
        CREATE INDEX refunds_request ON refunds(request_key);
        CREATE TABLE refund_lines (
            refund_id TEXT NOT NULL, line_no INTEGER NOT NULL, order_id TEXT NOT NULL,
            qty_milli INTEGER NOT NULL, amount_minor INTEGER NOT NULL,
            PRIMARY KEY (refund_id, line_no)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX refund_lines_order ON refund_lines(order_id, line_no);
        CREATE TABLE refund_allocations (
            refund_id TEXT NOT NULL, payment_id TEXT NOT NULL, tender_type TEXT NOT NULL,
            amount_minor INTEGER NOT NULL, state TEXT NOT NULL,
            PRIMARY KEY (refund_id, payment_id)
        ) STRICT, WITHOUT ROWID;
        -- Every terminal receipt a payment event carried (sale, reversal, refund): a receipt
        -- is attached to at most one payment, which is what reconciliation relies on.
        CREATE TABLE terminal_receipts (
            terminal_id TEXT NOT NULL, trace_no INTEGER NOT NULL, receipt_no INTEGER NOT NULL,
            payment_id TEXT NOT NULL, kind TEXT NOT NULL,
            PRIMARY KEY (terminal_id, trace_no, receipt_no)
        ) STRICT, WITHOUT ROWID;
        """,
    ),
    (
        4,
        "print-job queue",
        """
        -- Primary state, not a projection: the queue is the printer's to-do list, written by
        -- the sale (enqueue) and the print workers, and is not rebuilt from the event log.
        CREATE TABLE print_jobs (
            job_id             TEXT PRIMARY KEY,
            printer_id         TEXT NOT NULL,
            kind               TEXT NOT NULL CHECK (kind IN ('receipt', 'reprint', 'test')),
            order_id           TEXT,
            payload            BLOB,
            state              TEXT NOT NULL
                               CHECK (state IN ('queued', 'printing', 'printed', 'failed')),
            attempts           INTEGER NOT NULL DEFAULT 0,
            next_attempt_at_ms INTEGER NOT NULL,
            last_cause         TEXT,
            created_at_ms      INTEGER NOT NULL,
            updated_at_ms      INTEGER NOT NULL,
            CHECK (kind = 'test' OR order_id IS NOT NULL),
            CHECK (kind != 'test' OR payload IS NOT NULL)
        ) STRICT;
        CREATE INDEX print_jobs_pending ON print_jobs(printer_id, state);
        CREATE INDEX print_jobs_order ON print_jobs(order_id);
        CREATE INDEX print_jobs_age ON print_jobs(updated_at_ms);
        """,
    ),
    (
        5,
        "hardware: device statistics, lane bindings",
        """
        -- Counters per device (lines printed, scans, ...): primary state, survive restarts.
        CREATE TABLE device_statistics (
            device_id TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL, PRIMARY KEY (device_id, name)
        ) STRICT, WITHOUT ROWID;
        -- Which lane a device serves; NULL scan_adds_to_cart means the store default.
        CREATE TABLE device_bindings (
            device_id TEXT PRIMARY KEY, lane_id TEXT NOT NULL,
            scan_adds_to_cart INTEGER CHECK (scan_adds_to_cart IN (0, 1)),
            bound_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX device_bindings_lane ON device_bindings(lane_id);
        """,
    ),
    (
        6,
        "sync: upload cursor and acks, frozen batch, down-sync inbox, settings, alarms",
        """
        -- One row: where upload stands. acked_seq moves only with an ack row (or the relay's
        -- verified watermark), in the same transaction; frozen_* names the batch in flight.
        CREATE TABLE sync_state (
            id                 INTEGER PRIMARY KEY CHECK (id = 1),
            acked_seq          INTEGER NOT NULL,
            acked_hash         BLOB NOT NULL,
            acked_at_ms        INTEGER,
            frozen_first_seq   INTEGER,
            frozen_last_seq    INTEGER,
            frozen_fingerprint BLOB,
            relay_high_seq     INTEGER,
            relay_epoch        TEXT,
            relay_seen_at_ms   INTEGER,
            down_after         INTEGER NOT NULL,
            failures           INTEGER NOT NULL,
            last_error         TEXT,
            last_error_at_ms   INTEGER,
            last_success_at_ms INTEGER
        ) STRICT;
        INSERT INTO sync_state (id, acked_seq, acked_hash, down_after, failures)
            VALUES (1, 0, zeroblob(32), 0, 0);

        CREATE TABLE sync_acks (
            batch_id       TEXT NOT NULL,
            first_seq      INTEGER NOT NULL,
            last_seq       INTEGER NOT NULL,
            last_hash      BLOB NOT NULL,
            source         TEXT NOT NULL CHECK (source IN ('ack', 'watermark', 'rewind')),
            relay_epoch    TEXT NOT NULL,
            quarantined    INTEGER NOT NULL,
            recorded_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX sync_acks_last ON sync_acks(last_seq);

        CREATE TABLE sync_quarantined (
            seq            INTEGER PRIMARY KEY,
            event_id       TEXT NOT NULL,
            reason         TEXT NOT NULL,
            reported_at_ms INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE sync_inbox (
            change_id     INTEGER PRIMARY KEY,
            kind          TEXT NOT NULL,
            status        TEXT NOT NULL CHECK (status IN ('applied', 'rejected')),
            detail        TEXT NOT NULL,
            first_seq     INTEGER,
            last_seq      INTEGER,
            applied_at_ms INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE sync_settings (
            key           TEXT PRIMARY KEY,
            value         TEXT NOT NULL,
            change_id     INTEGER NOT NULL,
            applied_at_ms INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE sync_alarms (
            alarm_id        INTEGER PRIMARY KEY,
            reason          TEXT NOT NULL,
            detail          TEXT NOT NULL,
            seq             INTEGER,
            raised_at_ms    INTEGER NOT NULL,
            last_seen_at_ms INTEGER NOT NULL,
            count           INTEGER NOT NULL,
            cleared_at_ms   INTEGER
        ) STRICT;
        CREATE INDEX sync_alarms_open ON sync_alarms(reason) WHERE cleared_at_ms IS NULL;
        """,
    ),
    (
        7,
        "events by business day",
        """
        -- The Z report reads one business day's sales and refunds; without this it scans the
        -- whole log, which grows by every event the store ever recorded.
        CREATE INDEX events_business_day ON events(business_date, type);
        """,
    ),
    (
        8,
        "idempotency keys in a rowid table",
        """
        -- Every mutating request stores its answer (a 1-3 KB view) under a random key. In a
        -- WITHOUT ROWID table those rows live in the key's B-tree, so each insert lands on a
        -- random, often full leaf and splits it: pages half empty (about twice the bytes on disk
        -- and in the WAL per row) and ~1.6x the CPU per insert. A rowid table appends the row
        -- and keeps only (lane_id, key) in the unique index. Same columns, same constraint.
        CREATE TABLE idempotency_keys_rowid (
            lane_id       TEXT NOT NULL,
            key           TEXT NOT NULL,
            fingerprint   BLOB NOT NULL,
            status        INTEGER NOT NULL,
            body          BLOB NOT NULL,
            created_at_ms INTEGER NOT NULL,
            PRIMARY KEY (lane_id, key)
        ) STRICT;
        INSERT INTO idempotency_keys_rowid
            SELECT lane_id, key, fingerprint, status, body, created_at_ms FROM idempotency_keys
            ORDER BY created_at_ms;
        DROP TABLE idempotency_keys;
        ALTER TABLE idempotency_keys_rowid RENAME TO idempotency_keys;
        CREATE INDEX idempotency_keys_age ON idempotency_keys(created_at_ms);
        """,
    ),
    (
        9,
        "read-model indexes: only what a query reads",
        """
        -- Nothing selects orders by business date (the Z report reads the log) and nothing
        -- looks a payment up by (terminal, receipt number) (`terminal_receipts` is that
        -- index); each cost an entry per sale.
        DROP INDEX orders_business_date;
        DROP INDEX payments_card_ref;
        -- Payments are read by state only in the states they wait in for the store
        -- (`edge.payments.rows.WAITING`); a settled payment, nearly every row, needs no entry.
        DROP INDEX payments_state;
        CREATE INDEX payments_waiting ON payments(state)
            WHERE state IN ('authorizing', 'capturing', 'refund_pending', 'stored', 'voiding');
        """,
    ),
]

MIGRATIONS = [Migration(v, title, sql) for v, title, sql in _MIGRATIONS]
LATEST_VERSION = MIGRATIONS[-1].version
