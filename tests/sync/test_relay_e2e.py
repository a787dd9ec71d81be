"""The engine against the real relay (both storage backends): drain, restart, down-sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync import cursor
from sync.status import sync_status
from tests.cloud_relay.conftest import skip_without_pg
from tests.support.relay import BACKENDS, start_relay
from tests.support.sync_proof import assert_converged
from tests.support.sync_store import SaleFactory, running_store
from tests.sync.helpers import STORE, TENANT, engine, run


@pytest.fixture(params=BACKENDS)
def relay(request, tmp_path: Path):
    skip_without_pg(request.param)
    r = start_relay(request.param, tmp_path / "relay")
    yield r
    r.close()


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
            st = sync_status(svc.data_dir, svc.config, eng)
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
