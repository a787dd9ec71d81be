"""Stored bodies: deflated against the preset dictionary, always read back as the canonical
bytes the hash covers; rows of the layout before `store.log` (JSON bodies) stay readable and
verifiable after the upgrade."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import bodycodec, chain
from core.chain import GENESIS_HASH
from edge.store import eventlog, log_migrations, migrations
from edge.store.db import BASELINE, migrate, open_connection, register_dictionaries
from schemas.envelope import Event
from sync import outbox

GOLDEN = Path(__file__).resolve().parents[2] / "golden"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20)


@given(st.dictionaries(st.text(max_size=20), json_values, max_size=8))
def test_any_body_reads_back_byte_for_byte(obj) -> None:
    canonical = msgspec.json.encode(obj)
    stored = bodycodec.encode(canonical)
    assert bodycodec.decode(stored) == canonical
    assert len(stored) <= len(canonical)  # never larger than the JSON
    assert stored == canonical or stored[:2] == bytes((bodycodec.MARK, bodycodec.CURRENT))


def test_golden_bodies_shrink_and_read_back() -> None:
    # The v1 dictionary is frozen: event types added after it still read back, and compress
    # less; the golden file as a whole still shrinks to under half.
    canonical = stored_total = 0
    for line in (GOLDEN / "events_v1.jsonl").read_text().splitlines():
        body = msgspec.json.encode(json.loads(line)["body"])
        stored = bodycodec.encode(body)
        assert bodycodec.decode(stored) == body
        canonical, stored_total = canonical + len(body), stored_total + len(stored)
    assert stored_total < canonical / 2


def test_a_corrupt_stored_body_is_refused_not_misread() -> None:
    stored = bytearray(bodycodec.encode(b'{"cart_id":"c-1","lane_id":"lane-1","currency":"EUR"}'))
    stored[-1] ^= 0xFF
    try:
        got = bodycodec.decode(bytes(stored))
    except (ValueError, zlib.error):  # does not inflate
        return
    assert got != b'{"cart_id":"c-1","lane_id":"lane-1","currency":"EUR"}'


def test_a_database_with_another_dictionary_under_the_same_version_is_refused() -> None:
    with pytest.raises(ValueError, match="differs"):
        bodycodec.register(bodycodec.CURRENT, b"not the dictionary")


def _event(seq: int, prev: bytes, type_: str, body: bytes) -> Event:
    fields = dict(seq=seq, event_id=f"00000000-0000-7000-8000-{seq:012d}",
                  tenant_id="demo-tenant", store_id="store-001", lane_id="lane-1",
                  stream=f"s-{seq}", type=type_, schema_version=1,
                  recorded_at_ms=1_772_445_600_000 + seq, business_date="2026-03-02", body=body)
    return Event(**fields, prev_hash=prev, hash=chain.chain_hash(prev, **fields))


def test_rows_written_before_the_upgrade_stay_json_and_verify(tmp_path: Path) -> None:
    conn = open_connection(tmp_path / "store.db")
    migrate(conn, ((migrations.COMPONENT, migrations.MIGRATIONS),))  # the old layout
    old, prev = [], GENESIS_HASH
    for seq, line in enumerate((GOLDEN / "events_v1.jsonl").read_text().splitlines(), 1):
        d = json.loads(line)
        ev = _event(seq, prev, d["type"], msgspec.json.encode(d["body"]))
        conn.execute(f"INSERT INTO events ({eventlog.COLUMNS}) VALUES "
                     f"({','.join('?' * 13)})", msgspec.structs.astuple(ev))
        old.append(ev)
        prev = ev.hash
    migrate(conn, BASELINE)  # the upgrade: `store.log` rewrites the table
    register_dictionaries(conn)
    assert [r[0] for r in conn.execute("SELECT body FROM events ORDER BY seq")] == [
        e.body for e in old]  # not rewritten: JSON is a valid stored body
    new = _event(len(old) + 1, prev, old[0].type, old[0].body)
    eventlog.insert(conn, new)
    stored = conn.execute("SELECT body FROM events WHERE seq = ?", (new.seq,)).fetchall()[0][0]
    assert stored[0] == bodycodec.MARK and len(stored) < len(new.body)
    assert list(eventlog.read(conn)) == [*old, new]
    report = eventlog.verify_chain(conn)
    assert report.ok and report.events == len(old) + 1
    batch = outbox.next_batch(conn, "demo-tenant", "store-001", 0, max_events=100,
                              max_bytes=10**7)
    assert batch.last_seq == new.seq
    assert conn.execute("SELECT version FROM schema_versions WHERE component = ?",
                        (log_migrations.COMPONENT,)).fetchall() == [
        (log_migrations.MIGRATIONS[-1].version,)]
    conn.close()
