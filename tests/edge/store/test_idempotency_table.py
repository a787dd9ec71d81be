"""The stored answers of mutating requests live in a rowid table (random keys in a WITHOUT ROWID
B-tree split a leaf per insert: pages half empty, about twice the bytes per answer): a store
upgraded from the old layout keeps every stored answer, replays it, and refuses a reused key as
before; a fresh store has the same table."""

from __future__ import annotations

import uuid
from pathlib import Path

import apsw
import pytest

from core.idempotency import StoredResponse
from edge.store import migrations
from edge.store.db import BASELINE, migrate, open_connection
from edge.store.idempotency import SqliteKeys


def _is_rowid_table(conn: apsw.Connection) -> bool:
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'idempotency_keys'"
                       ).fetchall()[0][0]
    return "WITHOUT ROWID" not in sql.upper()


def test_an_upgraded_store_keeps_its_stored_answers_in_a_rowid_table(tmp_path: Path) -> None:
    conn = open_connection(tmp_path / "store.db")
    before = [m for m in migrations.MIGRATIONS if m.version <= 7]
    migrate(conn, ((migrations.COMPONENT, before),))  # the layout of a store before
    assert not _is_rowid_table(conn)
    keys = SqliteKeys(conn, 1_000)
    answers = {}
    for i in range(50):
        key = str(uuid.uuid4())
        answers[key] = StoredResponse(bytes([i]) * 32, 201, b'{"cart_id":"c-%d"}' % i)
        keys.save(f"lane-{i % 3}", key, answers[key])

    migrate(conn, BASELINE)
    assert _is_rowid_table(conn)
    for i, (key, stored) in enumerate(answers.items()):
        assert keys.lookup(f"lane-{i % 3}", key) == stored
        assert keys.lookup(f"lane-{(i + 1) % 3}", key) is None  # keys are per lane
    with pytest.raises(apsw.ConstraintError):  # one answer per (lane, key), as before
        keys.save("lane-0", next(iter(answers)), StoredResponse(b"x" * 32, 200, b"{}"))
    indexes = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'idempotency_keys'")}
    assert "idempotency_keys_age" in indexes  # pruning by age stays an index search
    conn.close()


def test_a_fresh_store_has_the_rowid_table(tmp_path: Path) -> None:
    conn = open_connection(tmp_path / "store.db")
    migrate(conn, BASELINE)
    assert _is_rowid_table(conn)
    conn.close()
