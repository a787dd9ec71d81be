"""The SQLite relay checkpoints its WAL beside the writers: acked batches keep the WAL bounded
and end up in the database file, readable after a restart, with no checkpoint inside the
ingest commit."""

from __future__ import annotations

import time
from pathlib import Path

from cloud_relay.storage.sqlite import DB_FILENAME
from tests.support.relay import Chain, start_relay

BATCHES = 30
EVENTS_PER_BATCH = 200


def test_acked_batches_reach_the_database_file_and_the_wal_stays_bounded(tmp_path: Path) -> None:
    relay = start_relay("sqlite", tmp_path / "relay")
    db = tmp_path / "relay" / DB_FILENAME
    wal = db.with_name(db.name + "-wal")
    try:
        client = relay.store_client(relay.enroll())
        chain = Chain("t1", "s1")
        chain.extend(BATCHES * EVENTS_PER_BATCH)
        wal_sizes = []
        for i in range(BATCHES):
            first = i * EVENTS_PER_BATCH + 1
            ack = client.ack(chain.batch(first, first + EVENTS_PER_BATCH - 1))
            assert ack.stored == EVENTS_PER_BATCH
            wal_sizes.append(wal.stat().st_size)
        checkpointer = relay.storage._checkpointer  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints > 0, "no checkpoint ran beside the writers"
        # The WAL is rewound once checkpointed: it never holds the whole upload.
        db_bytes = db.stat().st_size
        assert max(wal_sizes) < db_bytes, (wal_sizes, db_bytes)
    finally:
        relay.close()
    # Every acked event is in the database after the relay stopped, WAL or not.
    again = start_relay("sqlite", tmp_path / "relay")
    try:
        assert [e.seq for e in again.storage.store_events("t1", "s1")] == list(
            range(1, BATCHES * EVENTS_PER_BATCH + 1))
    finally:
        again.close()
