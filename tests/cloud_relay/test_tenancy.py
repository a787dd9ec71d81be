"""A store is (tenant, store) at the relay: two tenants can both have a `store-001` (the edge's
demo default), and nothing of one reaches the other — ledger, watermark, idempotency keys,
changes, reconciliation, sync status, quarantine, export, revocation. A database from the
previous release (store ids global) upgrades in place on both backends."""

from __future__ import annotations

import io
import json
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from cloud_relay import export
from cloud_relay.cli import app as cli_app
from cloud_relay.storage import open_storage, schema
from core.signing import StoreCredential
from schemas.sync import BatchAck
from tests.support.old_relay import OLD_EPOCH, make_old_database
from tests.support.relay import Chain, Relay, iter_ledger, start_relay

STORE = "store-001"


def _enroll_cli(relay: Relay, tenant: str) -> StoreCredential:
    result = CliRunner().invoke(cli_app, ["stores", "enroll", "--tenant", tenant, "--store",
                                          STORE, *relay.cli_args])
    assert result.exit_code == 0, result.output
    return msgspec.json.decode(result.stdout, type=StoreCredential)


def test_two_tenants_each_have_their_own_store_001(relay: Relay) -> None:
    a, b = _enroll_cli(relay, "tenant-a"), _enroll_cli(relay, "other")  # was refused before
    chains = {"tenant-a": Chain("tenant-a", STORE), "other": Chain("other", STORE)}
    chains["tenant-a"].extend(5)
    chains["other"].extend(3)
    ca, cb = relay.store_client(a), relay.store_client(b)
    # The same batch id under two tenants: two batches, not a replay of the other's ack.
    ack_a = ca.ack(chains["tenant-a"].batch(1, 3))
    ack_b = cb.ack(chains["other"].batch(1, 3))
    assert (ack_a.stored, ack_b.stored) == (3, 3)
    assert ack_a.last_hash_hex != ack_b.last_hash_hex
    ca.ack(chains["tenant-a"].batch(4, 5))
    assert ca.get(f"/v1/stores/{STORE}/watermark").json()["high_seq"] == 5
    assert cb.get(f"/v1/stores/{STORE}/watermark").json()["high_seq"] == 3
    for tenant, chain in chains.items():
        assert [e.hash for e in relay.storage.store_events(tenant, STORE)] == [
            e.hash for e in chain.log]

    hq_a = relay.hq_client(relay.hq_token("tenant-a"))
    hq_b = relay.hq_client(relay.hq_token("other"))
    assert [e["hash_hex"] for e in iter_ledger(hq_a)] == [e.hash.hex()
                                                          for e in chains["tenant-a"].log]
    assert [e["hash_hex"] for e in iter_ledger(hq_b)] == [e.hash.hex()
                                                          for e in chains["other"].log]
    assert [(s["store_id"], s["high_seq"]) for s in hq_a.get("/v1/stores").json()["stores"]] \
        == [(STORE, 5)]
    assert [(s["store_id"], s["high_seq"]) for s in hq_b.get("/v1/stores").json()["stores"]] \
        == [(STORE, 3)]
    assert hq_b.get("/v1/reconciliation", params={"store": STORE}).json()["reports"] == []

    # A change aimed at tenant A's store-001 reaches it, not the other tenant's store-001.
    resp = hq_a.post("/v1/hq/changes", json={"config": [
        {"key": "receipt.footer", "value": "A only", "store_id": STORE}]})
    assert resp.status_code == 201, resp.text
    assert len(ca.get(f"/v1/stores/{STORE}/changes?after=0").json()["changes"]) == 1
    assert cb.get(f"/v1/stores/{STORE}/changes?after=0").json()["changes"] == []

    out = io.StringIO()
    assert export.export(relay.storage, "other", "jsonl", out)[0] == 3
    assert {json.loads(line)["hash_hex"] for line in out.getvalue().splitlines()} == {
        e.hash.hex() for e in chains["other"].log}

    # Revoking one tenant's store-001 leaves the other's working.
    result = CliRunner().invoke(cli_app, ["stores", "revoke", STORE, "--tenant", "tenant-a",
                                          *relay.cli_args])
    assert result.exit_code == 0, result.output
    assert ca.get(f"/v1/stores/{STORE}/watermark").status_code == 401
    assert cb.get(f"/v1/stores/{STORE}/watermark").status_code == 200
    listed = {(s.tenant_id, s.store_id, s.revoked_at_ms is not None)
              for s in relay.storage.list_stores()}
    assert listed == {("tenant-a", STORE, True), ("other", STORE, False)}


def test_a_store_of_one_tenant_cannot_write_the_other_tenants_store_of_the_same_id(
        relay: Relay) -> None:
    a = relay.enroll("tenant-a", STORE)
    relay.enroll("other", STORE)
    foreign = Chain("other", STORE)  # a batch naming the other tenant, signed by tenant A
    foreign.extend(2)
    body = relay.store_client(a).upload(foreign.batch(1, 2)).json()
    assert body["reason"] == "store_mismatch"
    assert relay.storage.store_events("other", STORE) == []


def test_a_database_of_the_previous_release_upgrades_in_place(backend: str,
                                                                tmp_path: Path) -> None:
    data = tmp_path / "relay"
    url, (s1, s2) = make_old_database(backend, data, [("t1", "s1", 4), ("t2", "s2", 2)])
    relay = start_relay(backend, data, database=url)
    try:
        assert relay.storage.epoch == OLD_EPOCH  # HQ cursors stay valid
        with relay.storage._read() as tx:
            version = (tx.rows("PRAGMA user_version")[0][0] if backend == "sqlite" else
                       int(tx.one("SELECT value FROM meta WHERE key = 'schema_version'")[0]))
        assert version == schema.LATEST_VERSION
        for old in (s1, s2):
            t, s = old.cred.tenant_id, old.cred.store_id
            assert [e.hash for e in relay.storage.store_events(t, s)] == [
                e.hash for e in old.chain.log]
            client = relay.store_client(old.cred)  # its credential still works
            # The batch it sent before the upgrade replays its stored ack.
            batch_id, raw = old.batches[0]
            replay = msgspec.json.decode(client.upload_raw(raw, batch_id).content, type=BatchAck)
            assert (replay.stored, replay.accepted_through_seq) == (0, len(old.chain.log))
            # ...and its chain continues where it was.
            first = old.chain.seq + 1
            old.chain.extend(3)
            ack = client.ack(old.chain.batch(first, first + 2))
            assert (ack.stored, ack.accepted_through_seq) == (3, first + 2)
        hq = relay.hq_client(relay.hq_token("t1"))
        assert [e["ledger_seq"] for e in iter_ledger(hq)] == list(range(1, 8))
        # Store ids are per tenant now: tenant t2 may have an s1 too.
        cred = relay.enroll("t2", "s1")
        assert relay.store_client(cred).get("/v1/stores/s1/watermark").json()["high_seq"] == 0
    finally:
        relay.close()


def test_an_upgraded_database_opens_again_unchanged(tmp_path: Path) -> None:
    data = tmp_path / "relay"
    url, _ = make_old_database("sqlite", data, [("t1", "s1", 2)])
    for _ in range(2):
        storage = open_storage(url)
        try:
            assert [e.seq for e in storage.store_events("t1", "s1")] == [1, 2]
        finally:
            storage.close()
