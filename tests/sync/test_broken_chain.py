"""A byte flipped in one event of the store's database: the events before it still reach the
relay (both backends), the alarm names its seq, nothing at or after it is sent, down-sync and
sales go on, and the daemon reports it — `/health/ready` 200 "degraded" with the failing
`event_chain` check (never 503: a supervisor must not restart a store over a tampered row),
`novapos-edge status` and `sync status` exit 1 naming the seq."""

from __future__ import annotations

import json
import time
from pathlib import Path

import apsw
import httpx
import msgspec
import pytest
from typer.testing import CliRunner

from core import bodycodec
from edge.cli import app as edge_cli
from edge.store.db import DB_FILENAME, open_connection
from edge.sync_link import status as sync_status
from sync import cursor
from tests.support.daemon import DaemonProcess
from tests.support.relay import start_relay
from tests.support.sync_proof import edge_log
from tests.support.sync_store import SaleFactory, running_store
from tests.sync.helpers import STORE, TENANT, engine, run


def flip_a_byte(db: Path, needle: bytes) -> int:
    """Flip one bit of one byte of the stored body (deflated: `core.bodycodec`) of the event
    whose body holds `needle`, in the database file (which may also hold stale copies in free
    pages) until the live row changed; returns that event's seq. The store must be stopped."""
    conn = apsw.Connection(str(db))
    try:
        seq, stored = next((seq, body) for seq, body in conn.execute(
            "SELECT seq, body FROM events ORDER BY seq") if needle in bodycodec.decode(body))
    finally:
        conn.close()
    pristine = db.read_bytes()
    offsets = [i for i in range(len(pristine)) if pristine.startswith(stored, i)]
    assert offsets, "the event body is in the main file after the store closed"
    for offset in offsets:
        raw = bytearray(pristine)
        raw[offset + len(stored) // 2] ^= 0x01
        db.write_bytes(bytes(raw))
        conn = apsw.Connection(str(db))
        try:
            (now,) = conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchall()[0]
        finally:
            conn.close()
        if now != stored:
            return seq
    pytest.fail("no copy of the stored body was the live event row")


def test_the_events_before_a_flipped_byte_upload_and_the_rest_waits(relay, tmp_path) -> None:
    cred = relay.enroll(TENANT, STORE)
    edge = tmp_path / "edge"

    async def sell() -> None:
        async with running_store(edge) as svc:
            await svc.writer.run(SaleFactory(9).command(120))
    run(sell())
    # One bit of one byte of sale 79's stored body.
    seq = flip_a_byte(edge / DB_FILENAME, b'"receipt_number":"S9-00000079"')
    pristine_prefix = edge_log(edge / DB_FILENAME)[:seq - 1]
    hq = relay.hq_client(relay.hq_token(TENANT))

    async def main() -> None:
        async with running_store(edge) as svc:
            eng = engine(svc, cred, relay_url=relay.url, max_batch_events=50)
            await eng.round()
            assert relay.storage.store_events(TENANT, STORE) == pristine_prefix
            (alarm,) = cursor.alarms(svc.reader, open_only=True)
            assert (alarm.reason, alarm.seq) == ("chain_broken", seq)
            assert f"event {seq} " in alarm.detail and "altered or corrupt" in alarm.detail
            st = sync_status(svc, svc.config.sync, eng)
            assert (st.acked_seq, st.chain_broken_at_seq, st.open_alarms) == (seq - 1, seq, 1)
            # The store keeps selling; nothing from the break on goes up, round after round.
            head = await svc.writer.run(SaleFactory(10).command(5))
            assert head == 125
            resp = hq.post("/v1/hq/changes", json={"config": [{"key": "k", "value": "v"}]})
            assert resp.status_code == 201
            eng.wake()
            await eng.round()
            assert len(relay.storage.store_events(TENANT, STORE)) == seq - 1
            (alarm,) = cursor.alarms(svc.reader, open_only=True)
            assert (alarm.reason, alarm.seq, alarm.count) == ("chain_broken", seq, 2)
            # ...while down-sync still flows.
            assert svc.reader.execute("SELECT value FROM sync_settings WHERE key = 'k'"
                                      ).fetchall() == [("v",)]
            await eng.close()
    run(main())
    assert hq.get("/v1/stores").json()["stores"][0]["high_seq"] == seq - 1


def test_a_frozen_batch_that_breaks_later_is_cut_before_the_break(relay, tmp_path) -> None:
    """The engine froze 1-100 (say, sent and lost its answer), then a row inside it changed:
    the frozen range can never be sent as it was; a new batch before the break goes up."""
    from sync import outbox

    cred = relay.enroll(TENANT, STORE)
    edge = tmp_path / "edge"

    async def freeze() -> None:
        async with running_store(edge) as svc:
            await svc.writer.run(SaleFactory(11).command(100))
            frozen = outbox.next_batch(svc.reader, TENANT, STORE, 0, max_events=100,
                                       max_bytes=10**7)
            await svc.writer.run(lambda tx: cursor.freeze(tx.conn, frozen))
    run(freeze())
    seq = flip_a_byte(edge / DB_FILENAME, b'"receipt_number":"S11-00000060"')

    async def main() -> None:
        async with running_store(edge) as svc:
            eng = engine(svc, cred, relay_url=relay.url)
            await eng.round()
            assert len(relay.storage.store_events(TENANT, STORE)) == seq - 1
            st = cursor.load(svc.reader)
            assert (st.acked_seq, st.frozen_first_seq) == (seq - 1, None)
            assert cursor.open_chain_break(svc.reader).seq == seq
            await eng.close()
    run(main())


def test_readiness_is_degraded_not_unavailable_while_the_chain_is_broken(tmp_path: Path) -> None:
    from tests.support.live_app import start_live_app

    live = start_live_app(tmp_path / "store")
    try:
        live.service.writer.run_sync(lambda tx: cursor.raise_alarm(
            tx.conn, cursor.CHAIN_BROKEN, "event 7 of the store's log ...", 7, tx.now_ms))
        ready = httpx.get(f"{live.url}/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "degraded", "checks": {
            "migrations": "ok", "database_writable": "ok",
            "event_chain": "broken at seq 7: event 7 of the store's log ...",
            "safe_drop": "ok", "checklists": "ok", "pickup_sla": "ok"}}
        # An ack of that seq (a repaired log) is the only thing that clears it.
        live.service.writer.run_sync(lambda tx: cursor.clear_alarms(tx.conn, tx.now_ms, 6))
        assert httpx.get(f"{live.url}/health/ready").json()["status"] == "degraded"
        live.service.writer.run_sync(lambda tx: cursor.clear_alarms(tx.conn, tx.now_ms, 7))
        assert httpx.get(f"{live.url}/health/ready").json()["status"] == "ok"
    finally:
        live.close()


@pytest.mark.slow
def test_the_daemon_reports_a_broken_chain_and_keeps_selling(tmp_path: Path) -> None:
    relay = start_relay("sqlite", tmp_path / "relay")
    data = tmp_path / "store"
    DaemonProcess(data).start().stop()  # the demo store: catalog events, lane tokens
    seq = flip_a_byte(data / DB_FILENAME, b'"name":"Farmhouse Rye Bread')
    (data / "sync-credential.json").write_bytes(msgspec.json.encode(relay.enroll(TENANT, STORE)))
    daemon = DaemonProcess(data, extra_env={"NOVAPOS_SYNC__RELAY_URL": relay.url,
                                            "NOVAPOS_SYNC__POLL_INTERVAL_S": "0.2"}).start()
    try:
        deadline = time.monotonic() + 60
        while (ready := httpx.get(f"{daemon.url}/health/ready")).json()["status"] == "ok":
            assert time.monotonic() < deadline, daemon.log_tail()
            time.sleep(0.1)
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "degraded"
        assert body["checks"]["event_chain"].startswith(f"broken at seq {seq}: ")
        assert body["checks"]["database_writable"] == "ok"
        assert len(relay.storage.store_events(TENANT, STORE)) == seq - 1
        with daemon.client() as lane:
            cart = lane.post("/v1/carts", json={}, headers={"Idempotency-Key": "after-break"})
            assert cart.status_code == 201, cart.text

        status = CliRunner().invoke(edge_cli, ["status", "--data-dir", str(data)])
        assert status.exit_code == 1, status.output
        said = " ".join(status.output.split())
        assert f"broken at seq {seq}" in said
        sync = CliRunner().invoke(edge_cli, ["sync", "status", "--json", "--data-dir", str(data)])
        assert sync.exit_code == 1
        assert json.loads(sync.stdout)["chain_broken_at_seq"] == seq
        alarms = [json.loads(line) for line in daemon.log_path.read_text().splitlines()
                  if '"sync alarm"' in line]
        assert [(a["reason"], a["seq"]) for a in alarms] == [("chain_broken", seq)]
    finally:
        daemon.stop()
        relay.close()
    conn = open_connection(data / DB_FILENAME, readonly=True)
    try:
        assert conn.execute("SELECT count(*) FROM events WHERE seq > ?", (seq,)).fetchall()[0][0]
    finally:
        conn.close()
