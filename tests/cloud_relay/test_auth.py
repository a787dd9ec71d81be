"""Store routes need a valid HMAC signature of the path's store; HQ routes a tenant token.
Every refusal is a 401/403 problem body and changes nothing."""

from __future__ import annotations

import pytest

from core.signing import new_credential, sign
from tests.support.relay import Chain, Relay, StoreClient


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["detail"]
    return body


def test_store_routes_refuse_unsigned_forged_skewed_and_revoked_requests(relay: Relay) -> None:
    cred = relay.enroll()
    chain = Chain("t1", "s1")
    chain.extend(2)
    unsigned = relay.hq_client("not-a-token")  # plain client: no signature headers
    _problem(unsigned.get("/v1/stores/s1/watermark"), 401)
    forged = new_credential("t1", "s1")  # right ids, wrong secret
    client = relay.store_client(cred)
    _problem(client.request("GET", "/v1/stores/s1/watermark", cred=forged), 401)
    wrong_secret = type(cred)(cred.tenant_id, cred.store_id, cred.key_id, forged.secret_b64)
    body = _problem(client.request("GET", "/v1/stores/s1/watermark", cred=wrong_secret), 401)
    assert "signature" in body["detail"]
    skewed = StoreClient(relay.url, cred, now_ms=lambda: relay.clock() - 600_000)
    try:
        _problem(skewed.upload(chain.batch(1, 2)), 401)
    finally:
        skewed.close()
    # A signature covers the query: changing it after signing is refused.
    signed_for = "/v1/stores/s1/changes?after=0"
    headers = sign(cred, "GET", signed_for, b"", relay.clock())
    _problem(client.http.get("/v1/stores/s1/changes?after=5", headers=headers), 401)
    assert relay.storage.store_events("t1", "s1") == []
    relay.storage.revoke_store("t1", "s1", relay.clock())
    body = _problem(client.upload(chain.batch(1, 2)), 401)
    assert "revoked" in body["detail"]
    assert relay.storage.store_events("t1", "s1") == []


def test_a_store_cannot_read_another_stores_routes(relay: Relay) -> None:
    mine = relay.store_client(relay.enroll("t1", "s1"))
    relay.enroll("t1", "s2")
    for path in ("/v1/stores/s2/watermark", "/v1/stores/s2/changes?after=0"):
        body = _problem(mine.get(path), 403)
        assert body["reason"] == "store_mismatch"


def test_hq_tokens_are_tenant_scoped(relay: Relay) -> None:
    for tenant, store in (("t1", "s1"), ("t2", "s2")):
        client = relay.store_client(relay.enroll(tenant, store))
        chain = Chain(tenant, store)
        chain.extend(3)
        client.ack(chain.batch(1, 3))
    t1 = relay.hq_client(relay.hq_token("t1"))
    t2 = relay.hq_client(relay.hq_token("t2"))
    assert {e["store_id"] for e in t1.get("/v1/ledger").json()["events"]} == {"s1"}
    assert {e["store_id"] for e in t2.get("/v1/ledger").json()["events"]} == {"s2"}
    assert [s["store_id"] for s in t1.get("/v1/stores").json()["stores"]] == ["s1"]
    # Asking for another tenant's store through filters yields nothing of it.
    assert t1.get("/v1/ledger", params={"store": "s2"}).json()["events"] == []
    assert t1.get("/v1/reconciliation", params={"store": "s2"}).json()["reports"] == []
    # Made-up tokens and store key ids are not HQ tokens.
    key_id = relay.storage.list_stores("t1")[0].key_id
    for client in (relay.hq_client("hq_x.y"), relay.hq_client(key_id)):
        _problem(client.get("/v1/ledger"), 401)


@pytest.mark.parametrize("path", ["/v1/ledger", "/v1/stores", "/v1/reconciliation",
                                  "/v1/hq/price-variances", "/v1/hq/quarantine"])
def test_hq_routes_need_a_token(relay: Relay, path: str) -> None:
    import httpx

    with httpx.Client(base_url=relay.url) as client:
        _problem(client.get(path), 401)


def test_revoked_hq_token_is_refused(relay: Relay) -> None:
    from cloud_relay import admin

    token = admin.create_hq_token(relay.storage, "t1", relay.clock())
    client = relay.hq_client(token.token)
    assert client.get("/v1/stores").status_code == 200
    relay.storage.revoke_hq_token(token.token_id, relay.clock())
    _problem(client.get("/v1/stores"), 401)


def test_bad_query_parameters_are_400_problems(relay: Relay) -> None:
    store = relay.store_client(relay.enroll())
    hq = relay.hq_client(relay.hq_token("t1"))
    for resp in (
        hq.get("/v1/ledger", params={"limit": "0"}),
        hq.get("/v1/ledger", params={"limit": "5001"}),
        hq.get("/v1/ledger", params={"limit": "many"}),
        store.get("/v1/stores/s1/changes?after=-1"),
        store.get("/v1/stores/s1/changes?after=0&limit=501"),
        store.get("/v1/stores/s1/watermark?head_seq=abc"),
        store.get("/v1/stores/s1/watermark?applied_change_id=-5"),
    ):
        body = _problem(resp, 400)
        assert body["type"].endswith("/invalid-request")
    resp = store.upload_raw(b"x", "s1:1-1", acked_through=None)
    assert resp.status_code == 400
    resp = store.request("POST", "/v1/stores/s1/batches", b"x",
                         {"Idempotency-Key": "s1:1-1", "X-NovaPOS-Acked-Through": "soon"})
    _problem(resp, 400)
    # Nothing above changed the store's state.
    mark = store.get("/v1/stores/s1/watermark").json()
    assert (mark["high_seq"], mark["applied_catalog_change_id"]) == (0, 0)
    assert relay.storage.sync_status("t1")[0].reported_head_seq is None
