"""The event log's storage layout, a schema component of its own (`store.log`, versioned in
`schema_versions`) so that it never competes for the baseline's version numbers.

1. Compact rows: the table is rebuilt without the UNIQUE index on `event_id` (UUIDv7s the one
   writer draws: 36-byte keys in a random-order index cost ~60 bytes an event and nothing
   looks an event up by id) and the `(stream, seq)` index becomes a partial index of the one
   stream lookup the store makes (a card payment's `payment.authorizing`); bodies are from now
   on stored deflated against a preset dictionary (`core.bodycodec`), which is copied into
   `body_dictionaries`. Rows written before stay as they are (canonical JSON is a valid stored
   body). Retention: `event_checkpoints` records every (seq, hash) the hot log was cut at;
   the append-only triggers now let a DELETE through only at or below the latest checkpoint,
   which `edge.store.retention` inserts in the same transaction as its delete.
"""

from __future__ import annotations

from core import zdict_v1
from core.migrations import Migration

COMPONENT = "store.log"

_MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "compact event rows, body dictionaries, retention checkpoints",
        f"""
        CREATE TABLE events_compact (
            seq            INTEGER PRIMARY KEY,
            event_id       TEXT NOT NULL,
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
        INSERT INTO events_compact SELECT seq, event_id, tenant_id, store_id, lane_id, stream,
            type, schema_version, recorded_at_ms, business_date, body, prev_hash, hash
            FROM events ORDER BY seq;
        DROP TABLE events;
        ALTER TABLE events_compact RENAME TO events;
        CREATE INDEX events_business_day ON events(business_date, type);
        CREATE INDEX events_authorizing ON events(stream) WHERE type = 'payment.authorizing';

        CREATE TABLE body_dictionaries (
            version    INTEGER PRIMARY KEY,
            dictionary BLOB NOT NULL
        ) STRICT;
        INSERT INTO body_dictionaries (version, dictionary)
            VALUES ({zdict_v1.VERSION}, X'{zdict_v1.DICTIONARY.hex()}');
        CREATE TRIGGER body_dictionaries_frozen BEFORE UPDATE ON body_dictionaries
            BEGIN SELECT RAISE(ABORT, 'body dictionaries are frozen'); END;
        CREATE TRIGGER body_dictionaries_kept BEFORE DELETE ON body_dictionaries
            BEGIN SELECT RAISE(ABORT, 'body dictionaries are frozen'); END;

        -- Where the hot log was cut: the event at `seq` (hash `hash`) and all before it left
        -- the store; `verify` starts from the latest row. Insert only.
        CREATE TABLE event_checkpoints (
            seq            INTEGER PRIMARY KEY,
            hash           BLOB NOT NULL,
            recorded_at_ms INTEGER NOT NULL,
            removed        INTEGER NOT NULL,
            acked_seq      INTEGER NOT NULL,
            cutoff_ms      INTEGER NOT NULL
        ) STRICT;
        CREATE TRIGGER event_checkpoints_no_update BEFORE UPDATE ON event_checkpoints
            BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
        CREATE TRIGGER event_checkpoints_no_delete BEFORE DELETE ON event_checkpoints
            BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
        CREATE TRIGGER event_checkpoints_forward BEFORE INSERT ON event_checkpoints
            WHEN new.seq <= coalesce((SELECT max(seq) FROM event_checkpoints), 0)
            BEGIN SELECT RAISE(ABORT, 'a checkpoint only moves forward'); END;
        -- The read models as of the latest checkpoint (what the removed events built), so
        -- that `verify` can still rebuild every projection: `edge.store.retention`.
        CREATE TABLE checkpoint_rows (
            tbl     TEXT NOT NULL,
            chunk   INTEGER NOT NULL,
            columns TEXT NOT NULL,
            rows    BLOB NOT NULL,
            PRIMARY KEY (tbl, chunk)
        ) STRICT;

        -- Append-only, enforced by the database itself: the only DELETE it lets through is of
        -- events at or below the latest checkpoint.
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            WHEN old.seq > coalesce((SELECT max(seq) FROM event_checkpoints), 0)
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        """,
    ),
    (
        2,
        "the Z report's index holds only the events it reads",
        """
        -- `events_business_day` (business_date, type) held an entry for every event (~39 bytes
        -- each); the Z report reads one day's events of its six types (about one event in
        -- eight of a checkout). The query carries this WHERE term itself
        -- (`edge.reports.zreport.DAY_INDEX_TERM`), which is what lets SQLite use the index.
        DROP INDEX events_business_day;
        CREATE INDEX events_zreport_day ON events(business_date)
            WHERE type IN ('sale.completed', 'order.refund_created', 'payment.refunded',
                           'payment.forward_declined', 'return.completed', 'till.closed');
        """,
    ),
]

MIGRATIONS = [Migration(v, title, sql) for v, title, sql in _MIGRATIONS]
