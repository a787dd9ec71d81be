"""The real daemon runs the sync engine as a background task, and `novapos-edge sync now`
wakes it (SIGUSR1) instead of waiting for the next poll."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from edge.cli import app
from edge.store.db import DB_FILENAME, open_connection
from tests.support.daemon import DaemonProcess
from tests.support.relay import start_relay
from tests.support.sync_proof import assert_converged
from tests.sync.helpers import STORE, TENANT


def test_sync_now_wakes_the_running_daemon(tmp_path: Path) -> None:
    relay = start_relay("sqlite", tmp_path / "relay")
    data = tmp_path / "store"
    data.mkdir()
    (data / "sync-credential.json").write_bytes(msgspec.json.encode(relay.enroll(TENANT, STORE)))
    # An hour between polls: only `sync now` can make the upload happen within the test.
    daemon = DaemonProcess(data, extra_env={"NOVAPOS_SYNC__RELAY_URL": relay.url,
                                            "NOVAPOS_SYNC__POLL_INTERVAL_S": "3600"}).start()
    try:
        deadline = time.monotonic() + 60

        def edge_state() -> tuple[int, int]:
            conn = open_connection(data / DB_FILENAME, readonly=True)
            try:
                head = conn.execute("SELECT max(seq) FROM events").fetchall()[0][0] or 0
                acked = conn.execute("SELECT acked_seq FROM sync_state").fetchall()[0][0]
                return head, acked
            finally:
                conn.close()

        # The demo catalog was seeded before start() returned; the engine's first round may
        # have looked before that, so flush once with `sync now` and wait for it.
        assert CliRunner().invoke(app, ["sync", "now", "--data-dir", str(data)]).exit_code == 0
        while (st := edge_state())[1] < st[0]:
            assert time.monotonic() < deadline, daemon.log_tail()
            time.sleep(0.05)
        before = len(relay.storage.store_events(TENANT, STORE))
        with daemon.client() as c:
            r = c.post("/v1/carts", json={}, headers={"Idempotency-Key": "k1"})
            assert r.status_code == 201, r.text
        head = edge_state()[0]
        assert head > before
        time.sleep(0.5)
        assert len(relay.storage.store_events(TENANT, STORE)) == before  # not polled yet
        result = CliRunner().invoke(app, ["sync", "now", "--data-dir", str(data)])
        assert result.exit_code == 0 and "sync now" in result.output
        while len(relay.storage.store_events(TENANT, STORE)) < head:
            assert time.monotonic() < deadline, daemon.log_tail()
            time.sleep(0.05)
        assert_converged(relay.storage, data / DB_FILENAME, TENANT, STORE)
    finally:
        daemon.stop()
        relay.close()
