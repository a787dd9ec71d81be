"""`novapos-edge sync enroll|status`: bad input refused with exit 2, status reports alarms."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from core.signing import new_credential
from edge.cli import app
from sync import cursor
from tests.support.sync_store import make_service

runner = CliRunner()


def _init(path: Path) -> None:
    assert runner.invoke(app, ["init", "--data-dir", str(path)]).exit_code == 0


def test_enroll_checks_the_credential_and_writes_it_private(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _init(store)
    wrong = tmp_path / "wrong.json"
    wrong.write_bytes(msgspec.json.encode(new_credential("demo-tenant", "store-999")))
    r = runner.invoke(app, ["sync", "enroll", "--credential", str(wrong), "--data-dir", str(store)])
    assert r.exit_code == 2 and "store-999" in r.output
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    r = runner.invoke(app, ["sync", "enroll", "--credential", str(junk), "--data-dir", str(store)])
    assert r.exit_code == 2
    assert not (store / "sync-credential.json").exists()

    good = tmp_path / "cred.json"
    good.write_bytes(msgspec.json.encode(new_credential("demo-tenant", "store-001")))
    r = runner.invoke(app, ["sync", "enroll", "--credential", str(good), "--relay-url",
                            "https://relay.example", "--data-dir", str(store)])
    assert r.exit_code == 0, r.output
    assert (store / "sync-credential.json").stat().st_mode & 0o777 == 0o600
    svc = make_service(store)
    assert svc.config.sync.relay_url == "https://relay.example"


def test_status_reports_cursor_and_exits_1_on_an_open_alarm(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _init(store)
    r = runner.invoke(app, ["sync", "status", "--json", "--data-dir", str(store)])
    assert r.exit_code == 0, r.output
    st = json.loads(r.output)
    assert (st["acked_seq"], st["configured"], st["open_alarms"]) == (0, False, 0)
    svc = make_service(store)
    svc.start()
    svc.writer.run_sync(lambda tx: cursor.raise_alarm(tx.conn, "chain_mismatch", "relay differs",
                                                      5, tx.now_ms))
    svc.stop()
    r = runner.invoke(app, ["sync", "status", "--data-dir", str(store)])
    assert r.exit_code == 1 and "chain_mismatch" in r.output


def test_sync_now_without_configuration_fails_clearly(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _init(store)
    r = runner.invoke(app, ["sync", "now", "--data-dir", str(store)])
    assert r.exit_code == 3 and "not configured" in r.output


def test_sync_now_with_the_daemon_stopped_drains_in_the_foreground(tmp_path: Path) -> None:
    from tests.support.relay import start_relay
    from tests.support.sync_proof import assert_converged
    from tests.support.sync_store import SaleFactory

    relay = start_relay("sqlite", tmp_path / "relay")
    try:
        store = tmp_path / "store"
        _init(store)
        cred = tmp_path / "cred.json"
        cred.write_bytes(msgspec.json.encode(relay.enroll("demo-tenant", "store-001")))
        r = runner.invoke(app, ["sync", "enroll", "--credential", str(cred), "--relay-url",
                                relay.url, "--data-dir", str(store)])
        assert r.exit_code == 0, r.output
        svc = make_service(store)
        svc.start()
        svc.writer.run_sync(SaleFactory(3).command(42))
        svc.stop()
        r = runner.invoke(app, ["sync", "now", "--data-dir", str(store)])
        assert r.exit_code == 0, r.output
        assert "acked 42 of 42" in r.output
        assert assert_converged(relay.storage, store / "store.db", "demo-tenant", "store-001") == 42
    finally:
        relay.close()
