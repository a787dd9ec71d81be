"""Every event type a report reads is served by an index, on both backends."""

from __future__ import annotations

import pytest

from cloud_relay.storage.schema import INDEXED_TYPES, TYPE_INDEXES
from core.zreport import ZREPORT_TYPES
from schemas.events import PaymentStored, SaleCompleted
from tests.support.relay import Relay

# Read by reports (Z report) and by HQ's follow-ups.
READ_TYPES = sorted(set(ZREPORT_TYPES) | {SaleCompleted.TYPE, PaymentStored.TYPE})


def test_report_types_are_indexed() -> None:
    assert set(READ_TYPES) <= INDEXED_TYPES, (
        "a report reads an event type without a partial index: add one in a relay migration")


@pytest.mark.parametrize("type_", READ_TYPES)
def test_each_report_type_uses_its_index(relay: Relay, type_: str) -> None:
    sql = (f"SELECT store_id, seq FROM events WHERE tenant_id = ? AND type = '{type_}' "
           "AND business_date = ?")
    with relay.storage._read() as tx:
        if relay.backend == "sqlite":
            plan = " ".join(str(r) for r in tx.rows("EXPLAIN QUERY PLAN " + sql, ("t1", "d")))
        else:
            tx.rows("SET LOCAL enable_seqscan = off")  # an empty table: ask what it would use
            plan = " ".join(str(r) for r in tx.rows("EXPLAIN " + sql, ("t1", "d")))
    assert TYPE_INDEXES[type_] in plan, plan


def test_a_relay_database_from_before_the_refund_indexes_gains_them(tmp_path) -> None:
    """A SQLite relay created by migration 1 upgrades in place when it starts: the new partial
    indexes are built, its epoch (and so HQ's cursors) stays."""
    from cloud_relay.storage import schema
    from cloud_relay.storage import sqlite as relay_sqlite
    from core.migrations import SQLITE, render

    path = tmp_path / "relay.db"
    old = relay_sqlite.open_connection(path)
    try:
        old.execute("BEGIN IMMEDIATE")
        old.execute(render(schema.MIGRATIONS[0].sql, SQLITE))
        old.execute("INSERT INTO meta (key, value) VALUES ('relay_epoch', 'e-old')")
        old.execute("PRAGMA user_version=1")
        old.execute("COMMIT")
    finally:
        old.close()
    storage = relay_sqlite.SqliteStorage(path)
    try:
        assert storage.epoch == "e-old"
        with storage._read() as tx:
            names = {n for (n,) in tx.rows("SELECT name FROM sqlite_master WHERE type = 'index'")}
            assert tx.rows("PRAGMA user_version") == [(schema.LATEST_VERSION,)]
        assert set(TYPE_INDEXES.values()) <= names
    finally:
        storage.close()
