"""Every event type a report reads is served by an index, on both backends."""

from __future__ import annotations

import pytest

from cloud_relay.storage.base import INDEXED_TYPES, TYPE_INDEXES
from schemas.events import PaymentStored, SaleCompleted
from schemas.zreport import ZREPORT_TYPES
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
