"""Refused credentials are limited per peer on the relay (store signatures and HQ tokens alike):
a burst of bad ones is answered 429 with Retry-After and a problem body, while good requests
from other peers go on. Peers are distinct loopback addresses (127.0.0.0/8 is all loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.ratelimit import AuthFailureLimit
from core.signing import new_credential
from tests.support.relay import Chain, Relay, start_relay

LIMIT = AuthFailureLimit(max_failures=5, window_s=120)


@pytest.fixture
def limited(backend: str, tmp_path: Path) -> Iterator[Relay]:
    r = start_relay(backend, tmp_path / "relay", auth_limit=LIMIT)
    try:
        yield r
    finally:
        r.close()


def _is_429(resp) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["type"].endswith("/too-many-failed-authentications") and body["status"] == 429
    assert 1 <= int(resp.headers["retry-after"]) <= LIMIT.window_s


def test_a_burst_of_bad_signatures_is_limited_while_other_stores_go_on(limited: Relay) -> None:
    good = limited.enroll("t1", "s1")
    forged = new_credential("t1", "s1")
    forged = type(forged)(good.tenant_id, good.store_id, good.key_id, forged.secret_b64)
    attacker = limited.store_client(forged, local_address="127.0.0.2")
    statuses = [attacker.get("/v1/stores/s1/watermark").status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    _is_429(attacker.get("/v1/stores/s1/watermark"))
    # Locked out means locked out: the right credential from that address waits too.
    _is_429(limited.store_client(good, local_address="127.0.0.2").get("/v1/stores/s1/watermark"))
    # The store itself, from its own address, is not affected, and neither are its uploads.
    store = limited.store_client(good, local_address="127.0.0.1")
    chain = Chain("t1", "s1")
    chain.extend(3)
    assert store.ack(chain.batch(1, 3)).stored == 3
    for _ in range(20):  # successful requests are never counted
        assert store.get("/v1/stores/s1/watermark").status_code == 200


def test_a_burst_of_bad_hq_tokens_is_limited_while_a_good_token_elsewhere_works(
        limited: Relay) -> None:
    token = limited.hq_token("t1")
    guesser = limited.hq_client("hq_guess.x", local_address="127.0.0.3")
    assert [guesser.get("/v1/ledger").status_code for _ in range(6)] == [401] * 5 + [429]
    assert limited.hq_client(token, local_address="127.0.0.4").get("/v1/ledger").status_code \
        == 200
    _is_429(limited.hq_client(token, local_address="127.0.0.3").get("/v1/stores"))
