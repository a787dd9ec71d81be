"""Sync's own tables added after the store's baseline (whose migration 6 holds the cursor,
acks, alarms and the down-sync inbox): a schema component of its own (`store.sync`, versioned
in `schema_versions`), so it never competes for the baseline's version numbers. Primary state,
not a projection: written only by the sync engine's writer commands. Append only.

1. `sync_held_changes`: down-sync changes of a kind no applier of this release knows (a newer
   HQ sends them before every store is upgraded). Kept whole (kind, opaque payload) until a
   release that knows the kind applies them; then the row moves to `sync_inbox`.
"""

from __future__ import annotations

from core.migrations import Migration

COMPONENT = "store.sync"

_MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "down-sync changes held for a later release",
        """
        CREATE TABLE sync_held_changes (
            change_id      INTEGER PRIMARY KEY,
            kind           TEXT NOT NULL,
            payload        BLOB NOT NULL,
            created_at_ms  INTEGER NOT NULL,
            held_at_ms     INTEGER NOT NULL
        ) STRICT;
        """,
    ),
]

MIGRATIONS = [Migration(v, title, sql) for v, title, sql in _MIGRATIONS]
