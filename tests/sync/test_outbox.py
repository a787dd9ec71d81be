"""Batches: contiguous seq ranges of the log, cut by explicit limits, frozen: the same range
always gives the same bytes."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import bodycodec
from core.chain import GENESIS_HASH, hash_of
from schemas.sync import decode_batch
from sync import outbox
from tests.sync.helpers import STORE, TENANT, store_with_sales


@pytest.fixture(scope="module")
def log_of_300(tmp_path_factory):
    svc = store_with_sales(tmp_path_factory.mktemp("outbox"), 300, seed=3)
    yield svc
    svc.stop()


def _all_batches(conn, max_events: int, max_bytes: int) -> list[outbox.FrozenBatch]:
    out, after = [], 0
    while (b := outbox.next_batch(conn, TENANT, STORE, after, max_events=max_events,
                                  max_bytes=max_bytes)) is not None:
        out.append(b)
        after = b.last_seq
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(max_events=st.integers(1, 400), max_bytes=st.integers(600, 200_000))
def test_batches_tile_the_log_contiguously_within_limits(log_of_300, max_events, max_bytes):
    conn = log_of_300.reader
    batches = _all_batches(conn, max_events, max_bytes)
    assert batches[0].first_seq == 1 and batches[0].prev_hash == GENESIS_HASH
    assert batches[-1].last_seq == 300
    for prev, b in itertools.pairwise(batches):
        assert b.first_seq == prev.last_seq + 1 and b.prev_hash == prev.last_hash
    for b in batches:
        decoded = decode_batch(b.body)
        assert decoded.batch_id == f"{STORE}:{b.first_seq}-{b.last_seq}" == b.batch_id
        assert [e.seq for e in decoded.events] == list(range(b.first_seq, b.last_seq + 1))
        assert decoded.last_hash == decoded.events[-1].hash == b.last_hash
        assert b.events <= max_events
        # The byte limit holds for every batch of more than one event (one event always goes).
        assert b.events == 1 or b.raw_bytes_estimate <= max_bytes
        assert len(b.body) < b.raw_bytes_estimate  # the estimate over-counts, never under


def test_events_in_a_batch_are_the_stored_events_byte_for_byte(log_of_300) -> None:
    """The wire carries the canonical bodies (what the hash covers), not the stored, deflated
    ones: the relay recomputes every hash from what it receives."""
    conn = log_of_300.reader
    b = outbox.next_batch(conn, TENANT, STORE, 10, max_events=5, max_bytes=10**6)
    stored = conn.execute("SELECT seq, event_id, body, prev_hash, hash FROM events "
                          "WHERE seq BETWEEN 11 AND 15 ORDER BY seq").fetchall()
    assert all(row[2][0] == bodycodec.MARK for row in stored)  # stored compressed
    canonical = [(s, i, bodycodec.decode(body), p, h) for s, i, body, p, h in stored]
    sent = decode_batch(b.body).events
    got = [(e.seq, e.event_id, e.body, e.prev_hash, e.hash) for e in sent]
    assert got == canonical
    assert all(hash_of(e) == e.hash for e in sent)


def test_rebuilding_a_frozen_range_gives_identical_bytes(log_of_300, tmp_path: Path) -> None:
    conn = log_of_300.reader
    first = outbox.next_batch(conn, TENANT, STORE, 40, max_events=77, max_bytes=10**6)
    again = outbox.rebuild(conn, TENANT, STORE, first.first_seq, first.last_seq)
    assert again.body == first.body and again.fingerprint == first.fingerprint
    # From another connection, on another day: still the same bytes.
    from edge.store.db import open_connection

    other = open_connection(log_of_300.db_path, readonly=True)
    try:
        assert outbox.rebuild(other, TENANT, STORE, 41, first.last_seq).body == first.body
    finally:
        other.close()


def test_nothing_to_send_past_the_head_and_a_missing_range_is_an_error(log_of_300) -> None:
    conn = log_of_300.reader
    assert outbox.next_batch(conn, TENANT, STORE, 300, max_events=10, max_bytes=10**6) is None
    with pytest.raises(RuntimeError):
        outbox.rebuild(conn, TENANT, STORE, 299, 305)
    assert outbox.hash_at(conn, 0) == GENESIS_HASH and outbox.hash_at(conn, 301) is None
