"""The upload cursor moves only with a matching ack, in the ack's own transaction; the relay's
watermark moves it forward only when its hash is ours."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from schemas.sync import BatchAck, QuarantinedEvent
from sync import cursor, outbox
from tests.sync.helpers import STORE, TENANT, rows, store_with_sales


@pytest.fixture
def svc(tmp_path: Path):
    s = store_with_sales(tmp_path, 40)
    yield s
    s.stop()


def _batch(svc, after=0, n=10):
    return outbox.next_batch(svc.reader, TENANT, STORE, after, max_events=n, max_bytes=10**6)


def _ack(b, **kw):
    base = {"batch_id": b.batch_id, "accepted_through_seq": b.last_seq,
                "last_hash_hex": b.last_hash.hex(), "stored": b.events, "relay_epoch": "e1"}
    base.update(kw)
    return BatchAck(**base)


@pytest.mark.parametrize("change", [
    {"batch_id": "store-001:1-9"}, {"accepted_through_seq": 9}, {"last_hash_hex": "00" * 32},
    {"fingerprint_hex": "11" * 32},
])
def test_an_ack_that_does_not_match_the_batch_completes_nothing(svc, change) -> None:
    b = _batch(svc)
    bad = _ack(b, **change)
    assert not cursor.ack_matches(b, bad)
    with pytest.raises(ValueError):
        svc.writer.run_sync(lambda tx: cursor.record_ack(tx.conn, b, bad, tx.now_ms))
    assert cursor.load(svc.reader).acked_seq == 0
    assert rows(svc, "SELECT count(*) FROM sync_acks") == [(0,)]


def test_a_matching_ack_moves_the_cursor_with_its_ack_row(svc) -> None:
    b = _batch(svc)
    svc.writer.run_sync(lambda tx: cursor.freeze(tx.conn, b))
    ack = _ack(b, quarantined=[QuarantinedEvent(3, "e3", "unknown type")])
    svc.writer.run_sync(lambda tx: cursor.record_ack(tx.conn, b, ack, tx.now_ms))
    st = cursor.load(svc.reader)
    assert (st.acked_seq, st.acked_hash, st.frozen_first_seq) == (10, b.last_hash, None)
    assert rows(svc, "SELECT batch_id, first_seq, last_seq, source, quarantined FROM sync_acks") \
        == [(b.batch_id, 1, 10, "ack", 1)]
    assert rows(svc, "SELECT seq, reason FROM sync_quarantined") == [(3, "unknown type")]
    # The same ack again (a duplicate answer) changes nothing.
    svc.writer.run_sync(lambda tx: cursor.record_ack(tx.conn, b, ack, tx.now_ms))
    assert rows(svc, "SELECT count(*) FROM sync_acks") == [(1,)]


def test_a_crash_between_ack_row_and_cursor_leaves_neither(svc) -> None:
    """The ack row and the cursor are one transaction: fail the cursor update after the ack
    row was inserted, and the ack row is gone too."""
    b = _batch(svc)
    conn = svc.reader  # a plain connection, to inject a failure inside the transaction
    w = apsw.Connection(str(svc.db_path))
    w.execute("CREATE TEMP TRIGGER boom BEFORE UPDATE OF acked_seq ON sync_state "
              "BEGIN SELECT RAISE(ABORT, 'power cut'); END")
    with pytest.raises(apsw.ConstraintError), w:
        cursor.record_ack(w, b, _ack(b), 1)
    w.close()
    assert cursor.load(conn).acked_seq == 0
    assert rows(svc, "SELECT count(*) FROM sync_acks") == [(0,)]


def test_watermark_forward_only_when_the_relay_hash_is_ours(svc) -> None:
    h20 = outbox.hash_at(svc.reader, 20)

    def adopt(high, high_hash, local):
        return svc.writer.run_sync(lambda tx: cursor.adopt_watermark(
            tx.conn, high_seq=high, high_hash=high_hash, relay_epoch="e1", local_hash=local,
            now_ms=tx.now_ms))

    assert adopt(20, b"\x01" * 32, h20) == "diverged"
    assert cursor.load(svc.reader).acked_seq == 0
    assert adopt(20, h20, h20) == "forward"  # a lost ack: the relay has 1-20, with our hash
    assert cursor.load(svc.reader).acked_seq == 20
    h5 = outbox.hash_at(svc.reader, 5)
    assert adopt(5, h5, h5) == "back"  # the relay was restored from a backup
    st = cursor.load(svc.reader)
    assert (st.acked_seq, st.relay_high_seq) == (5, 5)
    assert adopt(5, h5, h5) == "same"
    assert adopt(60, b"\x02" * 32, None) == "diverged"  # the relay has more than this store
    assert cursor.load(svc.reader).acked_seq == 5


def test_alarms_count_while_open_and_an_ack_clears_them(svc) -> None:
    def alarm(reason):
        return svc.writer.run_sync(lambda tx: cursor.raise_alarm(tx.conn, reason, "d", 7,
                                                                 tx.now_ms))
    assert alarm("chain_mismatch") is True
    assert alarm("chain_mismatch") is False
    assert alarm("gap") is True
    open_ = cursor.alarms(svc.reader, open_only=True)
    assert {(a.reason, a.count) for a in open_} == {("chain_mismatch", 2), ("gap", 1)}
    b = _batch(svc)
    svc.writer.run_sync(lambda tx: cursor.record_ack(tx.conn, b, _ack(b), tx.now_ms))
    assert cursor.alarms(svc.reader, open_only=True) == []
    assert len(cursor.alarms(svc.reader)) == 2  # history is kept
