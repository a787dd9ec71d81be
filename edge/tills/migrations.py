"""The tills domain's tables (component "tills"): read models of till sessions, their cash
movements and each till's last Z number."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "till sessions, movements, Z numbers", """
    CREATE TABLE till_sessions (
        session_id TEXT PRIMARY KEY, till_id TEXT NOT NULL, lane_id TEXT NOT NULL,
        currency TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
        float_minor INTEGER NOT NULL, expected_minor INTEGER NOT NULL,
        opened_seq INTEGER NOT NULL, opened_at_ms INTEGER NOT NULL, opened_by TEXT NOT NULL,
        closed_seq INTEGER, z_number INTEGER, counted_minor INTEGER, over_short_minor INTEGER,
        closed_by TEXT, approved_by TEXT, closed_at_ms INTEGER, business_date TEXT
    ) STRICT;
    CREATE UNIQUE INDEX till_sessions_open_till ON till_sessions(till_id) WHERE state = 'open';
    CREATE UNIQUE INDEX till_sessions_open_lane ON till_sessions(lane_id) WHERE state = 'open';
    CREATE UNIQUE INDEX till_sessions_z ON till_sessions(till_id, z_number);
    CREATE TABLE till_movements (
        session_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
        amount_minor INTEGER NOT NULL, movement_id TEXT, reason TEXT NOT NULL DEFAULT '',
        by TEXT, confirmed_by TEXT,
        PRIMARY KEY (session_id, seq)
    ) STRICT;
    CREATE TABLE till_z_numbers (till_id TEXT PRIMARY KEY, last_z INTEGER NOT NULL) STRICT;
    """),
]
