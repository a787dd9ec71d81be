"""HQ's promotions key reaches the store at enrollment and is pinned there: HQ registers its
public key with the relay, `novapos-relay stores enroll` puts it in the enrollment document,
`novapos-edge sync enroll` pins it, and bundles then verify with no key in the store's
config. A store enrolled before HQ registered a key pins it from its first down-sync. After
pinning, another key (by re-enrollment or by down-sync) is refused with an alarm and the
pinned key stays; `[promotions] hq_public_key` still overrides. Real relay on loopback, real
store daemon, the real CLIs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from cloud_relay.cli import app as relay_cli
from core.promotions.bundle import key_id_of, public_key_b64, sign
from edge.cli import app as edge_cli
from edge.promotions import keys
from schemas import promotions as sp
from schemas.relay import StoreEnrollment
from schemas.sync import Change
from sync import cursor
from tests.edge.promotions.support import HQ_KEY, THREE_FOR_TWO_MILK
from tests.support.live_app import LiveApp, start_live_app
from tests.support.relay import Relay, start_relay
from tests.support.process import wait_until

runner = CliRunner()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
ENV = {"NOVAPOS_SYNC__POLL_INTERVAL_S": "0.05", "NOVAPOS_SYNC__BACKOFF_BASE_S": "0.05",
       "NOVAPOS_SYNC__BACKOFF_CAP_S": "0.2", "NOVAPOS_SYNC__DOWNSYNC_INTERVAL_S": "0.1"}
TENANT, STORE = "demo-tenant", "store-001"


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    r = start_relay("sqlite", tmp_path / "relay")
    try:
        yield r
    finally:
        r.close()


def _wait(pred, what: str, timeout_s: float = 30.0) -> None:
    wait_until(pred, what, timeout_s, poll_s=0.05)


def _register(relay: Relay, key: Ed25519PrivateKey) -> dict:
    hq = relay.hq_client(relay.hq_token(TENANT))
    r = hq.put("/v1/hq/promotions/key", json={"public_key_b64": public_key_b64(key)})
    assert r.status_code == 200, r.text
    return r.json()


def _publish(relay: Relay, key: Ed25519PrivateKey, version: int) -> None:
    hq = relay.hq_client(relay.hq_token(TENANT))
    bundle = sp.Bundle(version, 0, (THREE_FOR_TWO_MILK,))
    r = hq.post("/v1/hq/promotions", content=msgspec.json.encode(sign(bundle, key)))
    assert r.status_code == 201, r.text


def _enrollment(relay: Relay, out: Path) -> StoreEnrollment:
    r = runner.invoke(relay_cli, ["stores", "enroll", "--tenant", TENANT, "--store", STORE,
                                  "--out", str(out), *relay.cli_args])
    assert r.exit_code == 0, r.output
    return msgspec.json.decode(out.read_bytes(), type=StoreEnrollment)


def _init(store: Path) -> None:
    assert runner.invoke(edge_cli, ["init", "--data-dir", str(store)]).exit_code == 0


def _enroll_store(relay: Relay, store: Path, doc: Path):
    return runner.invoke(edge_cli, ["sync", "enroll", "--credential", str(doc), "--relay-url",
                                    relay.url, "--data-dir", str(store)])


def _status(live: LiveApp) -> dict:
    return live.client().get("/v1/promotions").json()


def _open_alarms(live: LiveApp) -> list[str]:
    return [a.reason for a in cursor.alarms(live.service.reader, open_only=True)]


def test_hq_registers_its_key_and_rejects_what_is_not_one(relay: Relay) -> None:
    got = _register(relay, HQ_KEY)
    assert got == {"public_key_b64": public_key_b64(HQ_KEY),
                   "key_id": key_id_of(public_key_b64(HQ_KEY))}
    _register(relay, HQ_KEY)  # the same key again publishes nothing more
    changes = [c for c in relay.storage.changes(TENANT, "", 0, 100) if c.kind == keys.KIND]
    assert len(changes) == 1
    hq = relay.hq_client(relay.hq_token(TENANT))
    for bad in ({"public_key_b64": "not base64 at all, not at all, no no no no"},
                {"public_key_b64": "QUJD" * 11}, {}, {"public_key_b64": 1}):
        r = hq.put("/v1/hq/promotions/key", json=bad)
        assert r.status_code == 400, (bad, r.text)
    assert len([c for c in relay.storage.changes(TENANT, "", 0, 100)
                if c.kind == keys.KIND]) == 1


def test_enrollment_pins_the_key_and_another_key_is_refused_with_an_alarm(
        relay: Relay, tmp_path: Path) -> None:
    _register(relay, HQ_KEY)
    doc = _enrollment(relay, tmp_path / "enroll.json")
    assert doc.promotions_public_key == public_key_b64(HQ_KEY)
    store = tmp_path / "store"
    _init(store)
    r = _enroll_store(relay, store, tmp_path / "enroll.json")
    assert r.exit_code == 0, r.output
    assert f"HQ promotions key {key_id_of(public_key_b64(HQ_KEY))} pinned" in r.output

    _publish(relay, HQ_KEY, 1)
    live = start_live_app(store, env=ENV)  # no [promotions] hq_public_key in its config
    try:
        _wait(lambda: _status(live)["active_version"] == 1, "the bundle verified by the pin")
        st = _status(live)
        assert (st["verify_key_id"], st["verify_key_source"]) == (
            key_id_of(public_key_b64(HQ_KEY)), "pinned")

        # HQ's key changes at the relay: the store refuses it by down-sync, with an alarm,
        # and a bundle signed with it; the pinned key and the bundle it verified stay.
        _register(relay, OTHER_KEY)
        _wait(lambda: keys.ALARM in _open_alarms(live), "the key-change alarm")
        _publish(relay, OTHER_KEY, 2)
        _wait(lambda: _status(live)["last_refused_reason"] is not None, "the refused bundle")
        st = _status(live)
        assert st["active_version"] == 1 and st["verify_key_source"] == "pinned"
        assert keys.pinned(live.service.reader) == public_key_b64(HQ_KEY)
        assert live.service.reader.execute(
            "SELECT count(*) FROM events WHERE type = 'promotions.key_refused'"
        ).fetchall()[0][0] >= 1
    finally:
        live.close()

    # Re-enrolling with a document that carries the new key is refused as a whole.
    r = runner.invoke(relay_cli, ["stores", "revoke", STORE, "--tenant", TENANT,
                                  *relay.cli_args])
    assert r.exit_code == 0, r.output
    doc2 = _enrollment(relay, tmp_path / "enroll2.json")
    assert doc2.promotions_public_key == public_key_b64(OTHER_KEY)
    before = (store / "sync-credential.json").read_bytes()
    r = _enroll_store(relay, store, tmp_path / "enroll2.json")
    assert r.exit_code == 2 and "refused" in r.output
    assert (store / "sync-credential.json").read_bytes() == before


def test_config_overrides_the_pinned_key(relay: Relay, tmp_path: Path) -> None:
    _register(relay, HQ_KEY)
    _enrollment(relay, tmp_path / "enroll.json")
    store = tmp_path / "store"
    _init(store)
    assert _enroll_store(relay, store, tmp_path / "enroll.json").exit_code == 0
    _publish(relay, OTHER_KEY, 1)  # signed with a key the operator chose in config
    live = start_live_app(store, env={
        **ENV, "NOVAPOS_PROMOTIONS__HQ_PUBLIC_KEY": public_key_b64(OTHER_KEY)})
    try:
        _wait(lambda: _status(live)["active_version"] == 1, "the bundle under the config key")
        assert _status(live)["verify_key_source"] == "config"
    finally:
        live.close()


def test_a_store_enrolled_before_hq_had_a_key_pins_it_from_down_sync(
        relay: Relay, tmp_path: Path) -> None:
    doc = _enrollment(relay, tmp_path / "enroll.json")
    assert doc.promotions_public_key == ""
    raw = (tmp_path / "enroll.json").read_bytes()
    assert b"promotions_public_key" not in raw  # the credential alone, as before
    store = tmp_path / "store"
    _init(store)
    assert _enroll_store(relay, store, tmp_path / "enroll.json").exit_code == 0
    live = start_live_app(store, env=ENV)
    try:
        _publish(relay, HQ_KEY, 1)
        _wait(lambda: _status(live)["last_refused_reason"] is not None, "no key: refused")
        assert _status(live)["active_version"] is None
        _register(relay, HQ_KEY)
        _publish(relay, HQ_KEY, 2)
        _wait(lambda: _status(live)["active_version"] == 2, "the bundle under the down-synced key")
        assert keys.pinned(live.service.reader) == public_key_b64(HQ_KEY)
    finally:
        live.close()


def test_a_malformed_key_change_is_rejected_and_nothing_is_pinned(tmp_path: Path) -> None:
    from sync.port import ChangeRejected

    store = tmp_path / "store"
    _init(store)
    live = start_live_app(store)
    try:
        bad = Change(1, keys.KIND, b'{"public_key_b64": "' + b"A" * 44 + b'x"}', 0)
        with pytest.raises(ChangeRejected):
            live.service.writer.run_sync(lambda tx: keys.apply_keys(tx, [bad]))
        assert keys.pinned(live.service.reader) is None
    finally:
        live.close()
