"""The checklists domain's tables (component "checklists")."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "checklists and ticks", """
    CREATE TABLE checklists (
        checklist_id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL,
        defined_seq INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE checklist_items (
        checklist_id TEXT NOT NULL, position INTEGER NOT NULL, item_id TEXT NOT NULL,
        text TEXT NOT NULL, due_local TEXT,
        PRIMARY KEY (checklist_id, item_id)
    ) STRICT;
    CREATE TABLE checklist_ticks (
        checklist_id TEXT NOT NULL, item_id TEXT NOT NULL, business_date TEXT NOT NULL,
        by TEXT NOT NULL, ticked_at_ms INTEGER NOT NULL, note TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (checklist_id, item_id, business_date)
    ) STRICT;
    """),
]
