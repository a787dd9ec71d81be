"""Batch ingest over real HTTP, on both backends: continuation of the chain, dedupe, refusals
with machine-readable reasons, Idempotency-Key semantics."""

from __future__ import annotations

import hashlib
import zlib

import msgspec
import pytest
from typer.testing import CliRunner

from cloud_relay.cli import app as cli_app
from core.chain import GENESIS_HASH
from schemas.sync import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    BatchAck,
    StoreWatermark,
    encode_batch,
)
from tests.support.relay import Chain, Relay


def _refusal(resp) -> dict:
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
    return resp.json()


def _stored_seqs(relay: Relay, store_id: str = "s1", tenant_id: str = "t1") -> list[int]:
    return [row.seq for row in relay.storage.store_events(tenant_id, store_id)]


def test_first_batch_is_stored_and_acked_with_the_epoch(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(5)
    ack = client.ack(chain.batch(1, 5))
    assert (ack.batch_id, ack.accepted_through_seq, ack.stored) == ("s1:1-5", 5, 5)
    assert ack.last_hash_hex == chain.head.hex()
    assert ack.relay_epoch == relay.storage.epoch and len(ack.relay_epoch) == 16
    assert ack.fingerprint_hex == hashlib.sha256(encode_batch(chain.batch(1, 5))).hexdigest()
    mark = msgspec.json.decode(client.get("/v1/stores/s1/watermark").content, type=StoreWatermark)
    assert (mark.high_seq, mark.last_hash_hex, mark.relay_epoch) == (5, chain.head.hex(),
                                                                      relay.storage.epoch)
    stored = relay.storage.store_events("t1", "s1")
    assert [(r.seq, r.event_id, r.hash, r.body) for r in stored] == [
        (e.seq, e.event_id, e.hash, e.body) for e in chain.log]


def test_a_resent_batch_is_acked_again_without_storing_twice(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(4)
    first = client.ack(chain.batch(1, 4))
    again = client.ack(chain.batch(1, 4))
    assert again.stored == 0
    assert msgspec.structs.replace(again, stored=first.stored) == first
    assert _stored_seqs(relay) == [1, 2, 3, 4]


def test_an_overlapping_batch_stores_only_its_new_tail(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(10)
    client.ack(chain.batch(1, 6))
    ack = client.ack(chain.batch(4, 10))  # new key: 4-6 known, 7-10 new
    assert (ack.accepted_through_seq, ack.stored) == (10, 4)
    inner = client.ack(chain.batch(2, 5))  # entirely known: acked through the high watermark
    assert (inner.accepted_through_seq, inner.stored, inner.last_hash_hex) == (
        10, 0, chain.head.hex())
    assert _stored_seqs(relay) == list(range(1, 11))


def test_a_gap_is_refused_with_the_seq_to_resend_from(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(8)
    client.ack(chain.batch(1, 3))
    resp = client.upload(chain.batch(6, 8))
    assert resp.status_code == 409
    body = _refusal(resp)
    assert (body["reason"], body["expected_seq"]) == ("gap", 4)
    assert _stored_seqs(relay) == [1, 2, 3]
    # Resending from the expected seq heals it.
    assert client.ack(chain.batch(4, 8)).accepted_through_seq == 8


def test_a_restored_relay_says_it_is_behind(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(8)
    client.ack(chain.batch(1, 3))
    # The store holds acks through 6 from before the relay's restore.
    resp = client.upload(chain.batch(7, 8), acked_through=6)
    body = _refusal(resp)
    assert (resp.status_code, body["reason"], body["expected_seq"]) == (409, "relay_behind", 4)


def test_a_forked_log_is_refused_as_a_chain_mismatch_never_skipped(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(5)
    client.ack(chain.batch(1, 5))
    # Another log with the same store id: its seq 6 does not follow our seq 5.
    fork = Chain("t1", "s1")
    fork.extend(6)
    resp = client.upload(fork.batch(6, 6))
    body = _refusal(resp)
    assert (resp.status_code, body["reason"]) == (409, "chain_mismatch")
    # Same seqs, other content (a store restored from an old backup that then sold more).
    resp = client.upload(fork.batch(4, 6))
    assert _refusal(resp)["reason"] == "chain_mismatch"
    assert _stored_seqs(relay) == [1, 2, 3, 4, 5]
    assert [r.hash for r in relay.storage.store_events("t1", "s1")] == [e.hash for e in chain.log]


def test_a_tampered_event_is_refused(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(3)
    batch = chain.batch(1, 3)
    bad = msgspec.structs.replace(batch.events[1], body=batch.events[1].body.replace(b"c2",
                                                                                      b"c9"))
    resp = client.upload(msgspec.structs.replace(batch, events=[batch.events[0], bad,
                                                                batch.events[2]]))
    body = _refusal(resp)
    assert (resp.status_code, body["reason"], body["expected_seq"]) == (409, "chain_mismatch", 2)
    genesis = msgspec.structs.replace(batch, prev_hash=b"\x01" * 32)
    assert _refusal(client.upload(genesis))["reason"] == "chain_mismatch"
    assert _stored_seqs(relay) == []


def test_a_store_cannot_write_another_stores_ledger(relay: Relay) -> None:
    mine = relay.store_client(relay.enroll("t1", "s1"))
    relay.enroll("t1", "s2")
    other = Chain("t1", "s2")
    other.extend(2)
    # Signed with s1's credential, aimed at s2's path.
    resp = mine.upload(other.batch(1, 2), store_id="s2")
    assert (resp.status_code, _refusal(resp)["reason"]) == (403, "store_mismatch")
    # s1's path, but the batch names s2 (or another tenant).
    resp = mine.upload(other.batch(1, 2))
    assert (resp.status_code, _refusal(resp)["reason"]) == (403, "store_mismatch")
    foreign = Chain("t2", "s1")
    foreign.extend(1)
    assert mine.upload(foreign.batch(1, 1)).status_code == 403
    assert _stored_seqs(relay, "s2") == [] and _stored_seqs(relay, "s1") == []


@pytest.mark.parametrize("names", [("t1", "s2"), ("t2", "s1")])
def test_an_event_naming_another_store_or_tenant_is_malformed(relay: Relay,
                                                              names: tuple[str, str]) -> None:
    """A batch of s1 whose second event is another store's (or tenant's), chained and hashed
    correctly for what it names: the envelope is not the batch's, so nothing is stored."""
    client = relay.store_client(relay.enroll("t1", "s1"))
    chain = Chain("t1", "s1")
    chain.extend(1)
    chain.tenant_id, chain.store_id = names
    chain.extend(1)
    chain.tenant_id, chain.store_id = "t1", "s1"
    chain.extend(1)
    resp = client.upload(chain.batch(1, 3))
    body = _refusal(resp)
    assert (resp.status_code, body["reason"]) == (400, "malformed")
    assert "/".join(names) in body["detail"]
    assert _stored_seqs(relay) == []


def test_undecodable_and_oversized_batches_are_refused_as_malformed(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    resp = client.upload_raw(b"not zlib at all", "s1:1-1")
    assert (resp.status_code, _refusal(resp)["reason"]) == (400, "malformed")
    resp = client.upload_raw(zlib.compress(b"\x93\x01\x02"), "s1:1-1")
    assert (resp.status_code, _refusal(resp)["reason"]) == (400, "malformed")
    bomb = zlib.compress(b"\0" * (MAX_BATCH_BYTES + 10), 9)
    resp = client.upload_raw(bomb, "s1:1-1")
    assert (resp.status_code, _refusal(resp)["reason"]) == (413, "malformed")
    chain = Chain("t1", "s1")
    chain.extend(MAX_BATCH_EVENTS + 1)
    resp = client.upload(chain.batch(1, MAX_BATCH_EVENTS + 1))
    assert (resp.status_code, _refusal(resp)["reason"]) == (413, "malformed")
    assert _stored_seqs(relay) == []


def test_idempotency_key_rules(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(3)
    batch = chain.batch(1, 3)
    raw = encode_batch(batch, level=1)
    resp = client.upload_raw(raw, None)
    assert resp.status_code == 400 and "Idempotency-Key" in resp.json()["detail"]
    resp = client.upload_raw(raw, "s1:1-2")  # a key that is not the batch id
    assert (resp.status_code, _refusal(resp)["reason"]) == (400, "malformed")
    with relay.storage.hold_key("t1/s1", "s1:1-3"):  # another request is storing it right now
        resp = client.upload_raw(raw, "s1:1-3")
        assert resp.status_code == 409 and resp.headers["retry-after"] == "1"
        assert "idempotency-key-in-flight" in resp.json()["type"]
    assert _stored_seqs(relay) == []
    ack = msgspec.json.decode(client.upload_raw(raw, "s1:1-3").content, type=BatchAck)
    assert ack.stored == 3
    # Same key, other bytes (same events, another compression level): 422, nothing changes.
    resp = client.upload_raw(encode_batch(batch, level=9), "s1:1-3")
    assert resp.status_code == 422 and "idempotency-key-reused" in resp.json()["type"]
    replay = msgspec.json.decode(client.upload_raw(raw, "s1:1-3").content, type=BatchAck)
    assert (replay.accepted_through_seq, replay.stored) == (3, 0)
    assert _stored_seqs(relay) == [1, 2, 3]


def test_genesis_is_32_zero_bytes() -> None:
    assert GENESIS_HASH == bytes(32)


@pytest.mark.parametrize("n", [1, 2])
def test_several_stores_of_a_tenant_share_one_ledger_order(relay: Relay, n: int) -> None:
    clients = [relay.store_client(relay.enroll("t1", f"s{i}")) for i in range(n)]
    chains = [Chain("t1", f"s{i}") for i in range(n)]
    for c, chain in zip(clients, chains):
        chain.extend(3)
        c.ack(chain.batch(1, 3))
    rows = relay.storage.ledger("t1", 0, 100)
    assert [r.ledger_seq for r in rows] == list(range(1, 3 * n + 1))


def test_dedupe_outlives_the_idempotency_keys(relay: Relay) -> None:
    """Even with every stored key gone (pruned, or lost), a replayed offset stores nothing
    twice: the UNIQUE constraints are the dedupe, not the key table."""
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(6)
    client.ack(chain.batch(1, 6))
    assert relay.storage.prune_keys(relay.clock() - 60_000) == 0  # younger than the cut-off
    result = CliRunner().invoke(cli_app, ["prune-keys", "--older-than-days", "1",
                                          *relay.cli_args])
    assert result.exit_code == 0 and "pruned 0" in result.stdout
    assert relay.storage.prune_keys(relay.clock() + 1) == 1
    again = client.ack(chain.batch(1, 6))
    assert (again.stored, again.accepted_through_seq) == (0, 6)
    assert _stored_seqs(relay) == [1, 2, 3, 4, 5, 6]
    assert len(relay.storage.ledger("t1", 0, 100)) == 6


def test_the_same_batch_sent_many_times_at_once_is_stored_once(relay: Relay) -> None:
    """Duplicated requests racing each other (a retrying proxy, two uploaders after a
    failover), through two relay instances on one database."""
    import threading
    from pathlib import Path

    from tests.support.relay import start_relay

    second = start_relay(relay.backend, relay.key_file.parent, database=relay.database_url)
    try:
        cred = relay.enroll()
        chain = Chain("t1", "s1")
        chain.extend(300)
        raw = encode_batch(chain.batch(1, 300))
        clients = [(relay, second)[i % 2].store_client(cred) for i in range(8)]
        results: list[tuple[int, dict]] = []
        gate = threading.Barrier(len(clients))

        def send(client) -> None:
            gate.wait()
            resp = client.upload_raw(raw, "s1:1-300")
            results.append((resp.status_code, resp.json()))

        threads = [threading.Thread(target=send, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(results) == len(clients)
        stored = [body["stored"] for status, body in results if status == 200]
        assert sorted(stored, reverse=True)[:1] == [300] and stored.count(300) == 1
        assert all(s == 0 for s in stored if s != 300)
        others = [body for status, body in results if status != 200]
        assert all(body["type"].endswith("/idempotency-key-in-flight") for body in others)
        assert _stored_seqs(relay) == list(range(1, 301))
        assert len(relay.storage.ledger("t1", 0, 1000)) == 300
    finally:
        second.close(drop=False)
