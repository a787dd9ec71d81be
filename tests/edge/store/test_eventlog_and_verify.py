"""The event log is append-only and tamper-evident; verify catches a flipped byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from core import chain
from core.clock import ManualClock
from edge import config as config_mod
from edge import demo
from edge.store import eventlog
from edge.store.db import open_connection
from tests.support.live_app import START_MS
from tests.support.store import TestStore, verify


@pytest.fixture
def store(tmp_path: Path) -> Path:
    data = tmp_path / "store"
    svc = TestStore(data, config_mod.load(None, {}), ManualClock(START_MS))
    svc.start()
    demo.seed(svc)
    svc.stop()
    return data


def test_fresh_demo_store_verifies(store: Path) -> None:
    report = verify(store / "store.db")
    assert report.ok and report.chain.events == report.rebuilt_events > 0


def test_events_cannot_be_updated_or_deleted(store: Path) -> None:
    conn = open_connection(store / "store.db")
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        conn.execute("UPDATE events SET body = x'00' WHERE seq = 1")
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        conn.execute("DELETE FROM events WHERE seq = 1")


def test_one_flipped_byte_in_the_file_is_caught(store: Path) -> None:
    db = store / "store.db"
    conn = open_connection(db)
    # The bread's catalog event, as stored (deflated: `core.bodycodec`).
    seq, needle = next((e.seq, stored) for e, (stored,) in zip(
        eventlog.read(conn), conn.execute("SELECT body FROM events ORDER BY seq"))
        if b'"name":"Farmhouse Rye Bread' in e.body)
    conn.close()
    pristine = db.read_bytes()
    offsets = [i for i in range(len(pristine)) if pristine.startswith(needle, i)]
    assert offsets, "the product event body is in the main file after checkpoint"
    # The file may also hold stale copies in free space; the live row is one of the offsets.
    for at in offsets:
        raw = bytearray(pristine)
        raw[at + len(needle) // 2] ^= 0x01  # one bit of one byte
        db.write_bytes(bytes(raw))
        report = verify(db)
        if not report.chain.ok:
            break
    else:
        pytest.fail("no single-byte change of the event body was detected")
    assert "tampered" in report.chain.reason
    assert report.chain.broken_at_seq == seq

    cli = subprocess.run([sys.executable, "-m", "edge.cli", "verify", "--data-dir", str(store)],
                         capture_output=True, text=True)
    assert cli.returncode == 1
    assert f"chain broken at seq {seq}" in cli.stdout


def test_a_projection_edited_behind_the_logs_back_is_caught(store: Path) -> None:
    conn = open_connection(store / "store.db")
    conn.execute("UPDATE prices SET amount_minor = 1 WHERE sku = 'MILK-1L'")
    conn.close()
    report = verify(store / "store.db")
    assert report.chain.ok and not report.ok
    assert set(report.mismatched_tables) == {"prices"}


def test_chain_links_every_event_to_its_predecessor(store: Path) -> None:
    conn = open_connection(store / "store.db")
    events = list(eventlog.read(conn))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == chain.GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:]))
    assert len({e.event_id for e in events}) == len(events)
