"""The convergence check of the sync proofs: after healing, the relay's ledger for a store
equals the store's log exactly, the chain verifies on the relay's copy, and the relay's
reconciliation equals the store's own Z report for every business day."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import msgspec

from cloud_relay import hq
from cloud_relay.storage import Storage
from edge.store.db import open_connection
from core.chain import GENESIS_HASH, chain_hash
from schemas.events import decode_body
from schemas.zreport import DayEvent, z_report

_EDGE_COLUMNS = ("seq, event_id, lane_id, stream, type, schema_version, recorded_at_ms, "
                 "business_date, body, prev_hash, hash")


def edge_log(db_path: Path) -> list[tuple]:
    conn = open_connection(db_path, readonly=True)
    try:
        return conn.execute(f"SELECT {_EDGE_COLUMNS} FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


def relay_log(storage: Storage, store_id: str) -> list[tuple]:
    return [(r.seq, r.event_id, r.lane_id, r.stream, r.type, r.schema_version, r.recorded_at_ms,
             r.business_date, bytes(r.body), bytes(r.prev_hash), bytes(r.hash))
            for r in storage.store_events(store_id)]


def verify_chain(rows: list[tuple], tenant_id: str, store_id: str) -> None:
    prev = GENESIS_HASH
    for i, (seq, event_id, lane_id, stream, type_, version, at_ms, day, body, prev_hash,
            digest) in enumerate(rows, start=1):
        assert seq == i, f"relay ledger gap: expected seq {i}, found {seq}"
        assert prev_hash == prev, f"relay chain broken at seq {seq}"
        assert chain_hash(prev, seq=seq, event_id=event_id, tenant_id=tenant_id,
                          store_id=store_id, lane_id=lane_id, stream=stream, type=type_,
                          schema_version=version, recorded_at_ms=at_ms, business_date=day,
                          body=body) == digest, f"relay event {seq} does not hash"
        prev = digest


def assert_converged(storage: Storage, db_path: Path, tenant_id: str, store_id: str) -> int:
    """Raises AssertionError unless the relay holds exactly the store's log. Returns its size."""
    edge = edge_log(db_path)
    relay = relay_log(storage, store_id)
    assert len(relay) == len(edge), f"relay has {len(relay)} events, the store {len(edge)}"
    for e, r in zip(edge, relay):
        assert e == r, f"event {e[0]} differs between store and relay"
    verify_chain(relay, tenant_id, store_id)
    by_day: dict[str, list] = defaultdict(list)
    for row in edge:
        try:
            by_day[row[7]].append(DayEvent(row[7], decode_body(row[4], row[5], row[8])))
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
            continue  # quarantined at the relay too: not part of either report
    relay_days = {r.business_date: r for r in
                  hq.reconciliation(storage, tenant_id, store_id, None).reports}
    for day, bodies in by_day.items():
        own = z_report(store_id, day, bodies)
        if own.sales_count:
            assert relay_days.get(day) == own, f"reconciliation of {day} differs from Z report"
    return len(edge)
