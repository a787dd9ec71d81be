"""Every event type a report reads is served by an index, on both backends."""

from __future__ import annotations

from cloud_relay.storage.base import INDEXED_TYPES
from schemas.events import SaleCompleted
from schemas.zreport import ZREPORT_TYPES
from tests.support.relay import Relay


def test_report_types_are_indexed(relay: Relay) -> None:
    assert set(ZREPORT_TYPES) | {SaleCompleted.TYPE} <= INDEXED_TYPES, (
        "a report reads an event type without a partial index: add one in a relay migration")
    sql = ("SELECT store_id, seq FROM events WHERE tenant_id = ? AND type = 'sale.completed' "
           "AND business_date = ?")
    with relay.storage._read() as tx:
        if relay.backend == "sqlite":
            plan = " ".join(str(r) for r in tx.rows("EXPLAIN QUERY PLAN " + sql, ("t1", "d")))
        else:
            tx.rows("SET LOCAL enable_seqscan = off")  # an empty table: ask what it would use
            plan = " ".join(str(r) for r in tx.rows("EXPLAIN " + sql, ("t1", "d")))
    assert "events_sales_day" in plan, plan
