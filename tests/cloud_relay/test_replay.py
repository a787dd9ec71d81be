"""A captured store request can be neither altered nor sent again: the signature covers every
header that changes what the relay does, and a signature is accepted once within its window —
by any relay process of the database."""

from __future__ import annotations

import httpx
import pytest

from cloud_relay.storage.replay import PRUNE_EVERY_MS, PRUNE_MARGIN_MS
from core import signing
from schemas.sync import BATCH_CONTENT_TYPE, HEADER_ACKED_THROUGH, encode_batch
from tests.support.relay import Chain, Relay, start_relay


def _captured_upload(relay: Relay, cred, raw: bytes, batch_id: str,
                     acked_through: int) -> dict[str, str]:
    """The headers of a batch upload as they crossed the wire (what an eavesdropper has)."""
    headers = {"Content-Type": BATCH_CONTENT_TYPE, "Accept": "application/json",
               "Idempotency-Key": batch_id, HEADER_ACKED_THROUGH: str(acked_through)}
    return {**headers, **signing.sign(cred, "POST", "/v1/stores/s1/batches", raw,
                                       relay.clock(), headers)}


def test_a_captured_upload_replayed_with_another_acked_through_is_refused(relay: Relay) -> None:
    """The reported attack: the upload replayed with `X-NovaPOS-Acked-Through: 999` (which
    would make the relay answer `relay_behind` and the store resend) was accepted."""
    cred = relay.enroll()
    chain = Chain("t1", "s1")
    chain.extend(3)
    batch = chain.batch(1, 3)
    raw = encode_batch(batch)
    wire = _captured_upload(relay, cred, raw, batch.batch_id, 0)
    http = httpx.Client(base_url=relay.url)
    for name, value in ((HEADER_ACKED_THROUGH, "999"), ("Idempotency-Key", "s1:1-2"),
                        ("Content-Type", "application/json"), ("Accept", "application/x-msgpack"),
                        (signing.HEADER_NONCE, "0" * 32)):
        resp = http.post("/v1/stores/s1/batches", content=raw, headers={**wire, name: value})
        assert resp.status_code == 401, (name, resp.text)
        assert resp.json()["detail"] == "bad signature: signature does not match", name
    assert relay.storage.store_events("t1", "s1") == []
    # The untouched request is the store's own: accepted once...
    assert http.post("/v1/stores/s1/batches", content=raw, headers=wire).status_code == 200
    # ...and refused when sent again, although the batch itself would replay harmlessly.
    again = http.post("/v1/stores/s1/batches", content=raw, headers=wire)
    assert again.status_code == 401
    assert again.json()["type"].endswith("/signature-replayed")
    assert again.headers["www-authenticate"].startswith("HMAC")
    http.close()


def test_a_replay_to_another_relay_process_of_the_same_database_is_refused(
        relay: Relay) -> None:
    cred = relay.enroll()
    second = start_relay(relay.backend, relay.key_file.parent, database=relay.database_url)
    try:
        path = "/v1/stores/s1/watermark"
        accept = {"Accept": "application/json"}
        wire = {**accept, **signing.sign(cred, "GET", path, b"", relay.clock(), accept)}
        assert httpx.get(relay.url + path, headers=wire).status_code == 200
        resp = httpx.get(second.url + path, headers=wire)
        assert resp.status_code == 401 and resp.json()["type"].endswith("/signature-replayed")
    finally:
        second.close(drop=False)


def test_the_store_client_never_trips_the_replay_cache(relay: Relay) -> None:
    """Identical requests in the same millisecond differ by their nonce."""
    client = relay.store_client(relay.enroll(), now_ms=lambda: 1_772_445_600_000)
    relay.clock.offset_ms = 1_772_445_600_000 - relay.clock()
    for _ in range(20):
        assert client.get("/v1/stores/s1/watermark").status_code == 200


def test_remembered_signatures_are_pruned_once_their_window_is_over(relay: Relay) -> None:
    storage = relay.storage
    now = 1_772_445_600_000
    storage._next_prune_ms = 0
    assert storage.first_use(b"a" * 32, now + signing.MAX_SKEW_MS, now)
    assert not storage.first_use(b"a" * 32, now + signing.MAX_SKEW_MS, now + 1)
    assert storage.first_use(b"b" * 32, now + signing.MAX_SKEW_MS, now + 2)
    assert storage.remembered_signatures() == 2
    # Still remembered until the window and the margin are over...
    later = now + signing.MAX_SKEW_MS + PRUNE_MARGIN_MS
    storage._next_prune_ms = 0
    assert storage.first_use(b"c" * 32, later + signing.MAX_SKEW_MS, later)
    assert storage.remembered_signatures() == 3
    # ...then dropped by the next insert's pruning (at most every PRUNE_EVERY_MS).
    assert storage.first_use(b"d" * 32, later + 1, later + 1)
    assert storage.remembered_signatures() == 4  # not yet: pruned at most every 10 s
    latest = later + PRUNE_EVERY_MS + 1
    assert storage.first_use(b"e" * 32, latest + signing.MAX_SKEW_MS, latest)
    assert storage.remembered_signatures() == 3  # a and b are gone; c, d, e stay


@pytest.mark.parametrize("skew_ms", [-signing.MAX_SKEW_MS - 1000, signing.MAX_SKEW_MS + 1000])
def test_a_request_outside_the_window_is_refused_whatever_the_cache(relay: Relay,
                                                                    skew_ms: int) -> None:
    cred = relay.enroll()
    client = relay.store_client(cred, now_ms=lambda: relay.clock() + skew_ms)
    body = client.get("/v1/stores/s1/watermark").json()
    assert body["status"] == 401 and "away from the relay's clock" in body["detail"]
