"""The fiscal domain's tables (component "fiscal")."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "fiscal journal and signers", """
    CREATE TABLE fiscal_journal (
        transaction_number INTEGER PRIMARY KEY, event_seq INTEGER NOT NULL UNIQUE,
        event_type TEXT NOT NULL, signed INTEGER NOT NULL, signature_counter INTEGER UNIQUE,
        start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, key_id TEXT, signature_b64 TEXT,
        reason TEXT, record_seq INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE fiscal_signers (
        key_id TEXT PRIMARY KEY, algorithm TEXT NOT NULL, public_key_b64 TEXT NOT NULL,
        serial TEXT NOT NULL, kind TEXT NOT NULL, registered_seq INTEGER NOT NULL
    ) STRICT;
    """),
]
