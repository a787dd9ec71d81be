"""The printing domain's own schema steps (component "printing"), after the store's baseline."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "print_jobs: a 'document' kind (a pre-rendered document another domain queues, "
                 "e.g. a return receipt)", """
    CREATE TABLE print_jobs_v2 (
        job_id             TEXT PRIMARY KEY,
        printer_id         TEXT NOT NULL,
        kind               TEXT NOT NULL
                           CHECK (kind IN ('receipt', 'reprint', 'test', 'document')),
        order_id           TEXT,
        payload            BLOB,
        state              TEXT NOT NULL
                           CHECK (state IN ('queued', 'printing', 'printed', 'failed')),
        attempts           INTEGER NOT NULL DEFAULT 0,
        next_attempt_at_ms INTEGER NOT NULL,
        last_cause         TEXT,
        created_at_ms      INTEGER NOT NULL,
        updated_at_ms      INTEGER NOT NULL,
        CHECK (kind IN ('test', 'document') OR order_id IS NOT NULL),
        CHECK (kind NOT IN ('test', 'document') OR payload IS NOT NULL)
    ) STRICT;
    INSERT INTO print_jobs_v2 SELECT job_id, printer_id, kind, order_id, payload, state,
        attempts, next_attempt_at_ms, last_cause, created_at_ms, updated_at_ms FROM print_jobs;
    DROP TABLE print_jobs;
    ALTER TABLE print_jobs_v2 RENAME TO print_jobs;
    CREATE INDEX print_jobs_pending ON print_jobs(printer_id, state);
    CREATE INDEX print_jobs_order ON print_jobs(order_id);
    CREATE INDEX print_jobs_age ON print_jobs(updated_at_ms);
    """),
]
