"""A relay restored from a backup is behind the stores: it says so with the seq to resend
from, the stores resend, and the ledger converges. The operator rotates the epoch as part of
the restore, so HQ readers resync rather than trust cursors the restore invalidated."""

from __future__ import annotations

from pathlib import Path

import apsw
from typer.testing import CliRunner

from cloud_relay.cli import app as cli_app
from tests.support.relay import Chain, iter_ledger, start_relay


def test_relay_restored_from_backup_is_refilled_by_the_store(tmp_path: Path) -> None:
    relay = start_relay("sqlite", tmp_path / "relay")
    db_path = Path(relay.database_url.removeprefix("sqlite://"))
    backup = tmp_path / "backup.db"
    cred = relay.enroll()
    token = relay.hq_token("t1")
    chain = Chain("t1", "s1")
    chain.extend(15)
    client = relay.store_client(cred)
    client.ack(chain.batch(1, 5))
    hq = relay.hq_client(token)
    cursor_at_5 = hq.get("/v1/ledger").json()["next_cursor"]
    conn = apsw.Connection(str(db_path))
    conn.execute(f"VACUUM INTO '{backup}'")  # the nightly backup, taken at seq 5
    conn.close()
    acked = client.ack(chain.batch(6, 10)).accepted_through_seq
    epoch = relay.storage.epoch
    relay.close()

    for suffix in ("", "-wal", "-shm"):  # the disk is lost; the backup comes back
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    backup.rename(db_path)
    result = CliRunner().invoke(cli_app, ["rotate-epoch", "--database", f"sqlite://{db_path}",
                                          "--data-dir", str(tmp_path / "relay")])
    assert result.exit_code == 0, result.output
    relay = start_relay("sqlite", tmp_path / "relay", database=f"sqlite://{db_path}")
    try:
        assert relay.storage.epoch != epoch
        client = relay.store_client(cred)
        resp = client.upload(chain.batch(11, 15), acked_through=acked)
        body = resp.json()
        assert (resp.status_code, body["reason"], body["expected_seq"]) == (409, "relay_behind", 6)
        assert client.ack(chain.batch(6, 15)).accepted_through_seq == 15
        assert [r.hash for r in relay.storage.store_events("t1", "s1")] == [e.hash for e in chain.log]
        # HQ's cursor from before the restore must resync; from the start it gets each once.
        hq = relay.hq_client(token)
        resp = hq.get("/v1/ledger", params={"after": cursor_at_5})
        assert resp.status_code == 409 and resp.json()["type"].endswith("/resync")
        assert [e["seq"] for e in iter_ledger(hq)] == list(range(1, 16))
    finally:
        relay.close()
