"""The SQLite relay's file: its WAL is checkpointed beside the writers (acked batches keep the WAL
bounded and end up in the database file, readable after a restart), and a new database has
pages large enough for a ledger row, while one an earlier build made keeps its own."""

from __future__ import annotations

import time
from pathlib import Path

import apsw

from cloud_relay.storage.sqlite import DB_FILENAME, PAGE_SIZE, SqliteStorage
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


def _page_size(db: Path) -> int:
    conn = apsw.Connection(str(db))
    try:
        return conn.execute("PRAGMA page_size").fetchall()[0][0]
    finally:
        conn.close()


def test_a_new_relay_database_has_8k_pages_and_an_older_one_keeps_its_own(
        tmp_path: Path) -> None:
    new = SqliteStorage(tmp_path / "new" / DB_FILENAME)
    new.close()
    assert _page_size(tmp_path / "new" / DB_FILENAME) == PAGE_SIZE == 8192
    # A database an earlier build made (SQLite's default page size) opens, ingests and keeps it.
    old_path = tmp_path / "old" / DB_FILENAME
    old_path.parent.mkdir()
    conn = apsw.Connection(str(old_path))
    conn.execute("PRAGMA page_size=4096")
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("CREATE TABLE earlier (x)")
    conn.close()
    relay = start_relay("sqlite", tmp_path / "old")
    try:
        client = relay.store_client(relay.enroll())
        chain = Chain("t1", "s1")
        chain.extend(3)
        assert client.ack(chain.batch(1, 3)).stored == 3
    finally:
        relay.close()
    assert _page_size(old_path) == 4096
