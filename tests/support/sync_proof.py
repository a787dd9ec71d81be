"""The convergence check of the sync proofs: after healing, the relay's ledger for a store
equals the store's log exactly, the chain verifies on the relay's copy, and the relay's
reconciliation equals the store's own Z report for every business day."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import msgspec

from cloud_relay import hq
from cloud_relay.storage import Storage
from core import chain
from core import bodycodec
from core.zreport import DayEvent, z_report
from edge.store.db import open_connection
from schemas.envelope import COLUMNS, Event
from schemas.events import decode_body


def edge_log(db_path: Path) -> list[Event]:
    conn = open_connection(db_path, readonly=True)
    try:
        return [bodycodec.event_of(row) for row in  # canonical bodies, as the wire has them
                conn.execute(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY seq")]
    finally:
        conn.close()


def relay_log(storage: Storage, tenant_id: str, store_id: str) -> list[Event]:
    return storage.store_events(tenant_id, store_id)


def verify_chain(events: list[Event], tenant_id: str, store_id: str) -> None:
    report = chain.verify(events)
    assert report.ok, f"relay chain broken at seq {report.broken_at_seq}: {report.reason}"
    assert report.events == len(events)
    for e in events:
        assert (e.tenant_id, e.store_id) == (tenant_id, store_id), f"event {e.seq} is foreign"


def assert_converged(storage: Storage, db_path: Path, tenant_id: str, store_id: str) -> int:
    """Raises AssertionError unless the relay holds exactly the store's log. Returns its size."""
    edge = edge_log(db_path)
    relay = relay_log(storage, tenant_id, store_id)
    assert len(relay) == len(edge), f"relay has {len(relay)} events, the store {len(edge)}"
    for e, r in zip(edge, relay):
        assert e == r, f"event {e.seq} differs between store and relay"
    verify_chain(relay, tenant_id, store_id)
    by_day: dict[str, list] = defaultdict(list)
    for ev in edge:
        try:
            by_day[ev.business_date].append(
                DayEvent(ev.business_date, decode_body(ev.type, ev.schema_version, ev.body)))
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
            continue  # quarantined at the relay too: not part of either report
    relay_days = {r.business_date: r for r in
                  hq.reconciliation(storage, tenant_id, store_id, None).reports}
    for day, bodies in by_day.items():
        own = z_report(store_id, day, bodies)
        if own.sales_count:
            assert relay_days.get(day) == own, f"reconciliation of {day} differs from Z report"
    return len(edge)
