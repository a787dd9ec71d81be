"""The tenant's loyalty key reaches a store by the existing down-sync, end to end through a
real relay on loopback and a real store daemon: sealed for that store under its relay
credential, never in clear on the wire, in the store's log or database, or in the logs; the
store writes the key file (0600) and serves loyalty at once, without a restart. A store
enrolled after the key exists gets its own copy; a copy sealed for another store or credential
is skipped; a different key than the one a store holds is rejected; the manual path
(`GET /v1/hq/loyalty/key` + `novapos-edge loyalty import-key`) still works."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from core import pii
from edge.cli import app as edge_cli
from edge.loyalty import delivery
from edge.loyalty.settings import LoyaltyConfig
from schemas import loyalty as lo
from schemas.sync import Change, ChangeSet
from tests.edge.api.helpers import post
from tests.support.live_app import LiveApp, start_live_app
from tests.support.relay import Relay, start_relay
from tests.support.process import wait_until

TENANT = "demo-tenant"
ENV = {"NOVAPOS_SYNC__POLL_INTERVAL_S": "0.05", "NOVAPOS_SYNC__BACKOFF_BASE_S": "0.05",
       "NOVAPOS_SYNC__BACKOFF_CAP_S": "0.2", "NOVAPOS_SYNC__DOWNSYNC_INTERVAL_S": "0.1"}
ANN = {"name": "Ann Example", "email": "ann@example.org", "card": "LOY-42"}


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    r = start_relay("sqlite", tmp_path / "relay")
    try:
        yield r
    finally:
        r.close()


def _wait(pred, what: str, timeout_s: float = 30.0) -> None:
    wait_until(pred, what, timeout_s, poll_s=0.05)


def _store(relay: Relay, tmp_path: Path, store_id: str) -> tuple[LiveApp, Path]:
    data = tmp_path / store_id
    data.mkdir()
    cred = relay.enroll(TENANT, store_id)
    (data / "sync-credential.json").write_bytes(msgspec.json.encode(cred))
    return start_live_app(data, env={**ENV, "NOVAPOS_SYNC__RELAY_URL": relay.url,
                                     "NOVAPOS_STORE__STORE_ID": store_id}), data


def _lookup(live: LiveApp) -> int:
    return post(live.client(), "/v1/customers/lookup", {"card": "LOY-42"}).status_code


def _files(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("*.db*")))


def test_the_tenant_key_reaches_stores_by_down_sync_sealed_for_each(
        relay: Relay, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    s1, data1 = _store(relay, tmp_path, "store-001")
    try:
        assert _lookup(s1) == 409  # no key yet: loyalty-not-provisioned
        hq = relay.hq_client(relay.hq_token(TENANT))
        r = hq.post("/v1/hq/customers", json={"customer_id": "c-ann", "personal": ANN,
                                              "balance_points": 50})
        assert r.status_code == 201, r.text  # the tenant key is made now, and sent
        _wait(lambda: _lookup(s1) == 200, "the key and the customer at store-001")
        view = post(s1.client(), "/v1/customers/lookup", {"card": "LOY-42"}).json()
        assert (view["name"], view["balance_points"]) == ("Ann Example", 50)

        key = relay.storage.tenant_key(TENANT, 0)
        key_b64 = base64.b64encode(key)
        key_file = data1 / LoyaltyConfig().key_file
        assert base64.b64decode(key_file.read_bytes().strip()) == key
        assert key_file.stat().st_mode & 0o777 == 0o600

        # What went over the wire: the store's own change set holds only ciphertext.
        changes = [c for c in relay.storage.changes(TENANT, "store-001", 0, 1000)
                   if c.kind == delivery.KIND]
        assert len(changes) == 1
        sealed = msgspec.json.decode(changes[0].payload, type=lo.TenantKeyChange)
        assert sealed.store_id == "store-001"
        for where in (changes[0].payload, _files(data1)):
            assert key not in where and key_b64 not in where

        # A store enrolled after the key exists gets a copy sealed for it, not the other's.
        s2, data2 = _store(relay, tmp_path, "store-002")
        try:
            _wait(lambda: _lookup(s2) == 200, "the key at store-002")
            two = [c for c in relay.storage.changes(TENANT, "store-002", 0, 1000)
                   if c.kind == delivery.KIND]
            assert [msgspec.json.decode(c.payload, type=lo.TenantKeyChange).store_id
                    for c in two] == ["store-002"]
            assert base64.b64decode((data2 / LoyaltyConfig().key_file).read_bytes()) == key
        finally:
            s2.close()
    finally:
        s1.close()
    logged = capfd.readouterr()
    assert key_b64.decode() not in logged.out + logged.err


def test_stores_enrolled_before_the_key_existed_get_it_on_request(
        relay: Relay, tmp_path: Path) -> None:
    # The key existed before the store was enrolled, and its enrollment-time copy is gone
    # with a revoked credential: HQ sends every store a fresh copy on request.
    hq = relay.hq_client(relay.hq_token(TENANT))
    relay.storage.tenant_key(TENANT, 0)  # made without delivery (as before this feature)
    s1, data1 = _store(relay, tmp_path, "store-001")
    try:
        assert hq.post("/v1/hq/loyalty/key/deliver").json() == {"stores": 1}
        _wait(lambda: (data1 / LoyaltyConfig().key_file).exists(), "the key file")
        # Sent twice: the second copy is "already held", nothing rejected.
        assert hq.post("/v1/hq/loyalty/key/deliver").json() == {"stores": 1}
        hq.post("/v1/hq/customers", json={"customer_id": "c-ann", "personal": ANN})
        _wait(lambda: _lookup(s1) == 200, "the customer")
        rejected = s1.service.reader.execute(
            "SELECT count(*) FROM sync_inbox WHERE status = 'rejected'").fetchall()[0][0]
        assert rejected == 0
    finally:
        s1.close()


def _change(payload: lo.TenantKeyChange) -> Change:
    return Change(1, "loyalty.tenant_key", msgspec.json.encode(payload), 0)


def test_a_copy_for_another_credential_is_skipped_and_another_key_rejected(
        relay: Relay, tmp_path: Path) -> None:
    from core.signing import new_credential
    from sync.port import ChangeRejected

    data = tmp_path / "store"
    data.mkdir()
    cred = new_credential(TENANT, "store-001")
    other = new_credential(TENANT, "store-001")
    cfg = LoyaltyConfig()
    got: list[bytes] = []
    apply = delivery.applier(data, cfg, lambda: cred, got.append)
    key = bytes(range(32))

    def sealed(for_cred, k: bytes = key) -> lo.TenantKeyChange:
        return lo.TenantKeyChange(
            store_id=for_cred.store_id, credential_key_id=for_cred.key_id,
            wrapped=pii.wrap_for_store(k, for_cred.secret, TENANT, for_cred.store_id,
                                       for_cred.key_id))

    assert apply(None, [_change(sealed(other))]) == [  # type: ignore[arg-type]
        "sealed for another store or credential: skipped"]
    assert not (data / cfg.key_file).exists() and got == []
    # Claimed for our credential but sealed with another secret: it does not open.
    forged = msgspec.structs.replace(sealed(other), credential_key_id=cred.key_id)
    with pytest.raises(ChangeRejected):
        apply(None, [_change(forged)])  # type: ignore[arg-type]
    assert apply(None, [_change(sealed(cred))]) == ["tenant key installed"]  # type: ignore[arg-type]
    assert got == [key]
    with pytest.raises(ChangeRejected, match="keeps its own"):
        apply(None, [_change(sealed(cred, bytes(32)))])  # type: ignore[arg-type]
    assert delivery.held_key(data, cfg) == key


def test_the_manual_path_still_provisions_a_store(relay: Relay, tmp_path: Path) -> None:
    hq = relay.hq_client(relay.hq_token(TENANT))
    key_b64 = hq.get("/v1/hq/loyalty/key").json()["key_b64"]
    store = tmp_path / "manual"
    assert CliRunner().invoke(edge_cli, ["init", "--data-dir", str(store)]).exit_code == 0
    r = CliRunner().invoke(edge_cli, ["loyalty", "import-key", "--data-dir", str(store)],
                           input=key_b64 + "\n")
    assert r.exit_code == 0, r.output
    assert delivery.held_key(store, LoyaltyConfig()) == base64.b64decode(key_b64)
