"""The engine against the real relay (both storage backends): drain, restart, down-sync."""

from __future__ import annotations

from pathlib import Path

from edge.sync_link import status as sync_status
from sync import cursor
from tests.support.relay import start_relay
from tests.support.sync_proof import assert_converged
from tests.support.sync_store import SaleFactory, running_store
from tests.sync.helpers import STORE, TENANT, engine, run


def test_drain_restart_and_converge(relay, tmp_path: Path) -> None:
    cred = relay.enroll(TENANT, STORE)

    async def main():
        async with running_store(tmp_path / "edge") as svc:
            await svc.writer.run(SaleFactory(1).command(700))
            eng = engine(svc, cred, relay_url=relay.url, max_batch_events=250)
            await eng.round()
            assert assert_converged(relay.storage, svc.db_path, TENANT, STORE) == 700
            await svc.writer.run(SaleFactory(2).command(30))
            await eng.close()
        # A restarted daemon resumes from its cursor: only the new events go up.
        async with running_store(tmp_path / "edge") as svc:
            eng = engine(svc, cred, relay_url=relay.url)
            await eng.round()
            assert_converged(relay.storage, svc.db_path, TENANT, STORE)
            st = sync_status(svc, svc.config.sync, eng)
            assert (st.acked_seq, st.relay_high_seq, st.lag_events) == (730, 730, 0)
            acks = svc.reader.execute("SELECT first_seq, last_seq FROM sync_acks "
                                      "WHERE source = 'ack' ORDER BY last_seq").fetchall()
            assert acks == [(1, 250), (251, 500), (501, 700), (701, 730)]
            await eng.close()
    run(main())


def test_lost_ack_is_recovered_from_the_watermark(relay, tmp_path: Path) -> None:
    """The relay stored a batch but the store never heard: on reconnect the watermark (with
    the store's own hash at that seq) completes it, and nothing is stored twice."""
    cred = relay.enroll(TENANT, STORE)
    client = relay.store_client(cred)

    async def main():
        async with running_store(tmp_path / "edge") as svc:
            await svc.writer.run(SaleFactory(3).command(40))
            from sync import outbox
            b = outbox.next_batch(svc.reader, TENANT, STORE, 0, max_events=25, max_bytes=10**6)
            resp = client.upload_raw(b.body, b.batch_id)  # "sent", answer lost
            assert resp.status_code == 200
            eng = engine(svc, cred, relay_url=relay.url)
            await eng.round()
            kinds = svc.reader.execute("SELECT source, last_seq FROM sync_acks ORDER BY rowid"
                                       ).fetchall()
            assert kinds == [("watermark", 25), ("ack", 40)]
            assert cursor.load(svc.reader).acked_seq == 40
            assert_converged(relay.storage, svc.db_path, TENANT, STORE)
            await eng.close()
    run(main())


def _append_unreadable(tx) -> int:
    """An event as a newer edge build would write it (schema version 2): this relay cannot
    interpret it, but it is part of the chain and must reach the ledger."""
    from core import chain
    from core.ids import uuid7
    from edge.store import eventlog
    from schemas.envelope import Event

    seq = tx.head_seq + 1
    fields = {"seq": seq, "event_id": uuid7(), "tenant_id": TENANT, "store_id": STORE,
              "lane_id": "lane-1", "stream": "future", "type": "sale.completed",
              "schema_version": 2, "recorded_at_ms": tx.now_ms,
              "business_date": tx.business_date, "body": b'{"shape":"from the future"}'}
    digest = chain.chain_hash(tx.head_hash, **fields)
    eventlog.insert(tx.conn, Event(**fields, prev_hash=tx.head_hash, hash=digest))
    tx.head_seq, tx.head_hash = seq, digest
    return seq


def test_an_event_the_relay_cannot_read_is_quarantined_not_blocking(relay, tmp_path) -> None:
    cred = relay.enroll(TENANT, STORE)

    async def main():
        async with running_store(tmp_path / "edge") as svc:
            await svc.writer.run(SaleFactory(4).command(5))
            odd = await svc.writer.run(_append_unreadable)
            await svc.writer.run(SaleFactory(5).command(5))
            eng = engine(svc, cred, relay_url=relay.url)
            await eng.round()
            assert assert_converged(relay.storage, svc.db_path, TENANT, STORE) == 11
            assert svc.reader.execute("SELECT seq FROM sync_quarantined").fetchall() == [(odd,)]
            st = sync_status(svc, svc.config.sync, eng)
            assert (st.acked_seq, st.quarantined_events, st.open_alarms) == (11, 1, 0)
            await eng.close()
    run(main())


def test_relay_restored_from_a_backup_gets_the_lost_events_again(tmp_path) -> None:
    """A SQLite relay is restored from a file copy taken earlier: its watermark is behind the
    store's acks. The store raises `relay_behind`, rewinds and re-sends; the ledger converges."""
    import shutil

    relay = start_relay("sqlite", tmp_path / "relay")
    cred = relay.enroll(TENANT, STORE)
    db_file = tmp_path / "relay" / "relay.db"

    async def main():
        nonlocal relay
        async with running_store(tmp_path / "edge") as svc:
            await svc.writer.run(SaleFactory(6).command(100))
            eng = engine(svc, cred, relay_url=relay.url)
            await eng.round()
            url = relay.database_url
            relay.close(drop=False)
            shutil.copy(db_file, tmp_path / "backup.db")
            relay = start_relay("sqlite", tmp_path / "relay", database=url)
            await svc.writer.run(SaleFactory(7).command(150))
            await eng.close()
            eng = engine(svc, cred, relay_url=relay.url)
            await eng.round()
            assert cursor.load(svc.reader).acked_seq == 250
            relay.close(drop=False)
            for suffix in ("-wal", "-shm"):
                (tmp_path / "relay" / f"relay.db{suffix}").unlink(missing_ok=True)
            shutil.copy(tmp_path / "backup.db", db_file)  # the restore
            relay = start_relay("sqlite", tmp_path / "relay", database=url)
            await svc.writer.run(SaleFactory(8).command(10))
            await eng.close()
            eng = engine(svc, cred, relay_url=relay.url)
            await eng.round()
            assert assert_converged(relay.storage, svc.db_path, TENANT, STORE) == 260
            reasons = {a.reason for a in cursor.alarms(svc.reader)}
            assert "relay_behind" in reasons
            await eng.close()
    try:
        run(main())
    finally:
        relay.close()
