"""The engine against a wire-level fake relay: drain, lost answers, failed answers, refusals,
alarms, timer-driven retries, restarts. (End to end against the real relay: tests/acceptance.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from core import bodycodec
from edge.sync_link import status as sync_status
from schemas.sync import decode_batch
from sync import cursor
from tests.support.sync_store import SaleFactory, running_store
from tests.sync.fake_relay import FakeRelay
from tests.sync.helpers import credential, engine, metric, rows, run


async def _until(pred, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def _same_log(svc, relay: FakeRelay) -> None:
    stored = [(s, i, bodycodec.decode(b), h) for s, i, b, h in
              rows(svc, "SELECT seq, event_id, body, hash FROM events ORDER BY seq")]
    assert [(e.seq, e.event_id, e.body, e.hash) for e in relay.events] == stored


def test_drains_the_log_in_bounded_batches_and_resets_the_lag(tmp_path: Path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            await svc.writer.run(SaleFactory(1).command(250))
            eng = engine(svc, cred, transport=relay.transport(), max_batch_events=100)
            await eng.round()
            _same_log(svc, relay)
            posts = [r for r in relay.requests if r[0] == "POST"]
            assert [decode_batch(b).batch_id for _, _, b in posts] == [
                "store-001:1-100", "store-001:101-200", "store-001:201-250"]
            st = sync_status(svc, svc.config.sync, eng)
            assert (st.acked_seq, st.lag_events, st.open_alarms) == (250, 0, 0)
            assert metric(svc, "novapos_sync_batches_acked_total") == 3
            assert metric(svc, "novapos_sync_lag_events") == 0
            # Last success as a unix timestamp (Prometheus computes the age), not an age.
            assert abs(metric(svc, "novapos_sync_last_success_timestamp_seconds")
                       - time.time()) < 600
            assert svc.metrics.registry.get_sample_value(
                "novapos_sync_last_success_age_seconds") is None
            await eng.close()
    run(main())


def test_a_lost_answer_resends_identical_bytes_and_the_relay_stores_once(tmp_path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            lost = []

            def lose_first(key):
                if not lost:
                    lost.append(key)
                    raise httpx.ReadError("connection reset after the relay committed")
            relay.after_commit = lose_first
            await svc.writer.run(SaleFactory(2).command(30))
            eng = engine(svc, cred, transport=relay.transport())
            wait_s = await eng.round()
            assert wait_s > 0 and eng.backoff.failures == 1
            assert cursor.load(svc.reader).acked_seq == 0  # no ack, no progress
            assert cursor.load(svc.reader).frozen_last_seq == 30  # frozen for the retry
            first_bytes = relay.requests[-1][2]
            await svc.writer.run(SaleFactory(3).command(5))  # new sales do not join the batch
            await eng.round()
            posts = [b for m, _, b in relay.requests if m == "POST"]
            # After the failure the engine re-asked the watermark: the relay has 1-30 with our
            # hash, so the lost ack is recovered from it and only 31-35 is sent.
            assert posts[0] == first_bytes and decode_batch(posts[-1]).first_seq == 31
            _same_log(svc, relay)
            await eng.close()
    run(main())


def test_a_batch_is_resent_byte_identical_until_acked(tmp_path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            relay.hook = lambda req, n: (httpx.Response(503, text="busy")
                                         if req.method == "POST" and n < 8 else None)
            await svc.writer.run(SaleFactory(4).command(12))
            eng = engine(svc, cred, transport=relay.transport())
            for _ in range(3):
                await eng.round()
                await svc.writer.run(SaleFactory(9 + _).command(1))
            posts = [b for m, _, b in relay.requests if m == "POST"]
            assert len(posts) == 3 and len(set(posts)) == 1
            assert cursor.load(svc.reader).acked_seq == 0  # a failed upload is not completed
            await eng.round()  # the relay answers again: the frozen 1-12, then the rest
            assert cursor.load(svc.reader).acked_seq == 15
            assert [decode_batch(b).batch_id for m, _, b in relay.requests if m == "POST"][-2:] \
                == ["store-001:1-12", "store-001:13-15"]
            _same_log(svc, relay)
            await eng.close()
    run(main())


def test_a_restart_resends_the_frozen_batch_identically(tmp_path) -> None:
    async def main():
        cred = credential()
        relay = FakeRelay(cred)
        relay.hook = lambda req, n: (httpx.Response(500) if req.method == "POST" else None)
        async with running_store(tmp_path) as svc:
            await svc.writer.run(SaleFactory(5).command(20))
            eng = engine(svc, cred, transport=relay.transport())
            await eng.round()
            await eng.close()
        sent = [b for m, _, b in relay.requests if m == "POST"][-1]
        relay.hook = None
        async with running_store(tmp_path) as svc:  # the "restarted" daemon
            await svc.writer.run(SaleFactory(6).command(20))
            eng = engine(svc, cred, transport=relay.transport())
            await eng.round()
            posts = [b for m, _, b in relay.requests if m == "POST"]
            assert posts[-2] == sent  # same range, same bytes, after the restart
            assert cursor.load(svc.reader).acked_seq == 40
            _same_log(svc, relay)
            await eng.close()
    run(main())


def test_retries_are_timer_driven_without_new_writes(tmp_path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            down = {"on": True}
            relay.hook = lambda req, n: httpx.Response(502) if down["on"] else None
            await svc.writer.run(SaleFactory(7).command(10))
            eng = engine(svc, cred, transport=relay.transport())
            task = asyncio.create_task(eng.run())
            await _until(lambda: eng.backoff.failures >= 3)
            down["on"] = False  # the WAN comes back; nobody rings a sale
            await _until(lambda: relay.high == 10)
            await _until(lambda: eng.backoff.failures == 0)
            st = sync_status(svc, svc.config.sync, eng)
            assert st.acked_seq == 10 and st.consecutive_failures == 0
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    run(main())


def test_relay_restored_from_backup_gets_the_missing_events_again(tmp_path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            await svc.writer.run(SaleFactory(8).command(30))
            eng = engine(svc, cred, transport=relay.transport(), max_batch_events=10)
            await eng.round()
            assert relay.high == 30
            del relay.events[12:]  # the relay is restored from a backup holding 1-12
            relay.epoch = "epoch-2"
            await svc.writer.run(SaleFactory(9).command(5))
            await eng.round()  # refused relay_behind -> alarm, rewind to 12, resend
            _same_log(svc, relay)
            alarm = [a for a in cursor.alarms(svc.reader) if a.reason == "relay_behind"]
            assert alarm and alarm[0].seq == 13
            assert cursor.load(svc.reader).acked_seq == 35
            assert metric(svc, "novapos_sync_batches_refused_total", {"reason": "relay_behind"}) == 1
            await eng.close()
    run(main())


def test_chain_mismatch_raises_an_alarm_keeps_retrying_and_sales_go_on(tmp_path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            await svc.writer.run(SaleFactory(10).command(10))
            eng = engine(svc, cred, transport=relay.transport())
            await eng.round()
            # The relay's copy of event 10 differs (corrupted there, or another store's log).
            import msgspec
            relay.events[9] = msgspec.structs.replace(relay.events[9], hash=b"\x07" * 32)
            await svc.writer.run(SaleFactory(11).command(3))
            for _ in range(3):
                await eng.round()
            st = sync_status(svc, svc.config.sync, eng)
            assert st.open_alarms >= 1
            assert any(a.reason == "chain_mismatch" and a.open for a in st.alarms)
            assert st.acked_seq == 10 and st.consecutive_failures == 3 and st.last_error
            assert metric(svc, "novapos_sync_alarm", {"reason": "chain_mismatch"}) == 1
            # Sales are not blocked: the writer takes more, and nothing was skipped.
            await svc.writer.run(SaleFactory(12).command(2))
            assert relay.high == 10
            await eng.close()
    run(main())


def test_gap_refusal_rewinds_to_the_expected_seq(tmp_path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            await svc.writer.run(SaleFactory(13).command(20))
            # The cursor claims 15 with the right hash (e.g. a stale file restored at the edge)
            # but this relay has nothing: the watermark call is made to lie once as well.
            h = svc.reader.execute("SELECT hash FROM events WHERE seq = 15").fetchall()[0][0]
            await svc.writer.run(lambda tx: cursor.rewind(tx.conn, to_seq=15, to_hash=h,
                                                          relay_epoch="", now_ms=tx.now_ms))
            eng = engine(svc, cred, transport=relay.transport())
            eng.connected = True  # skip the watermark: the batch itself must be refused
            await eng.round()
            reasons = {a.reason for a in cursor.alarms(svc.reader)}
            assert reasons & {"gap", "relay_behind"}
            _same_log(svc, relay)
            await eng.close()
    run(main())


def test_unauthorized_raises_an_alarm(tmp_path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            relay = FakeRelay(credential())  # knows another secret
            await svc.writer.run(SaleFactory(14).command(2))
            eng = engine(svc, credential(), transport=relay.transport())
            await eng.round()
            st = sync_status(svc, svc.config.sync, eng)
            assert [a.reason for a in st.alarms if a.open] == ["unauthorized"]
            assert st.acked_seq == 0 and "401" in (st.last_error or "")
            await eng.close()
    run(main())


def test_a_replayed_signature_refusal_is_retried_not_alarmed(tmp_path) -> None:
    """A duplicating middlebox delivered a copy of our request first: the relay refuses ours as
    a replay (401 signature-replayed). Not a credential problem: sign anew and send again."""
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            replayed = httpx.Response(401, json={
                "type": "https://novapos.dev/problems/signature-replayed", "status": 401,
                "detail": "this signature was already used"},
                headers={"content-type": "application/problem+json"})
            relay.hook = lambda req, n: replayed if n in (1, 3) else None
            await svc.writer.run(SaleFactory(16).command(3))
            eng = engine(svc, cred, transport=relay.transport())
            await eng.round()  # the watermark call is refused as a replay: retry later
            await eng.round()  # watermark ok, then the batch upload is refused as a replay
            await eng.round()
            st = sync_status(svc, svc.config.sync, eng)
            assert st.acked_seq == 3 and st.alarms == []
            await eng.close()
    run(main())


def test_quarantined_events_are_recorded_and_do_not_block(tmp_path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred, quarantine_types={"sale.completed"})
            await svc.writer.run(SaleFactory(15).command(4))
            eng = engine(svc, cred, transport=relay.transport())
            await eng.round()
            assert cursor.load(svc.reader).acked_seq == 4
            assert sync_status(svc, svc.config.sync, eng).quarantined_events == 4
            await eng.close()
    run(main())


def test_credential_for_another_store_is_refused(tmp_path) -> None:
    from core.signing import new_credential

    async def main():
        async with running_store(tmp_path) as svc:
            with pytest.raises(ValueError, match="credential is for"):
                engine(svc, new_credential("demo-tenant", "store-999"))
    run(main())


def test_the_engine_task_survives_a_crashing_round(tmp_path) -> None:
    """An unexpected error in a round (here: the relay client blows up) must not end the
    background task: it backs off and carries on once the fault is gone."""
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            await svc.writer.run(SaleFactory(16).command(3))
            eng = engine(svc, cred, transport=relay.transport())
            real = eng.client.send_batch
            calls = {"n": 0}

            async def flaky(*a, **k):
                calls["n"] += 1
                if calls["n"] <= 2:
                    raise RuntimeError("bug")
                return await real(*a, **k)
            eng.client.send_batch = flaky
            task = asyncio.create_task(eng.run())
            await _until(lambda: relay.high == 3)
            assert not task.done() and calls["n"] >= 3
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    run(main())


def test_in_flight_409_is_retried_no_sooner_than_retry_after(tmp_path) -> None:
    async def main():
        async with running_store(tmp_path) as svc:
            cred = credential()
            relay = FakeRelay(cred)
            relay.hook = lambda req, n: (httpx.Response(
                409, json={"type": "x/idempotency-key-in-flight", "detail": "busy"},
                headers={"Retry-After": "1"}) if req.method == "POST" and n == 2 else None)
            await svc.writer.run(SaleFactory(17).command(3))
            eng = engine(svc, cred, transport=relay.transport())
            wait_s = await eng.round()
            assert wait_s >= 1.0 and cursor.load(svc.reader).acked_seq == 0
            assert cursor.alarms(svc.reader) == []  # not a verdict on the batch: no alarm
            await eng.round()
            assert cursor.load(svc.reader).acked_seq == 3
            await eng.close()
    run(main())
