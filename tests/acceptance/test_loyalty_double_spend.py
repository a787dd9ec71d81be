"""Loyalty across stores through the real path: HQ enrolls a customer on a real relay, two
store daemons pull it down, go offline and each burn the same points, come back: HQ applies
both stores' events in order, records the overdraft as a compensation (never an edit), and
both lanes show the corrected balance. Then HQ erases the customer: no store, the relay or an
export can read its personal data any more, and `verify` passes at both stores."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import apsw
import msgspec
import pytest

from cloud_relay.export import export_file
from edge.loyalty.service import import_key
from edge.loyalty.settings import LoyaltyConfig
from tests.edge.api.helpers import assert_problem, open_cart, post
from tests.support.live_app import LiveApp, start_live_app
from tests.support.relay import BACKENDS, Relay, skip_without_pg, start_relay
from tests.support.store import verify
from tests.support.process import wait_until

WAIT_S = 60.0
SYNC = {"NOVAPOS_SYNC__POLL_INTERVAL_S": "0.05", "NOVAPOS_SYNC__BACKOFF_BASE_S": "0.05",
        "NOVAPOS_SYNC__BACKOFF_CAP_S": "0.2", "NOVAPOS_SYNC__DOWNSYNC_INTERVAL_S": "0.1"}
CLEAR = (b"Ann Example", b"ann@example.org", b"5550123", b"LOY-000123")


def _wait(pred, what: str) -> None:
    wait_until(pred, what, WAIT_S, poll_s=0.05)


@pytest.fixture(params=BACKENDS)
def relay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Relay]:
    skip_without_pg(request.param)
    r = start_relay(request.param, tmp_path / "relay")
    try:
        yield r
    finally:
        r.close()


def _start(relay: Relay, data: Path, store_id: str, online: bool) -> LiveApp:
    env = {**SYNC, "NOVAPOS_STORE__STORE_ID": store_id}
    if online:
        env["NOVAPOS_SYNC__RELAY_URL"] = relay.url
    return start_live_app(data, env=env)


def _balance(app: LiveApp) -> dict:
    r = app.client().get("/v1/customers/c-ann")
    return r.json() if r.status_code == 200 else {}


def test_two_stores_burn_the_same_points_offline_and_hq_compensates(
        relay: Relay, tmp_path: Path) -> None:
    hq = relay.hq_client(relay.hq_token("demo-tenant"))
    r = hq.post("/v1/hq/customers", json={
        "customer_id": "c-ann", "balance_points": 1000, "consents": {"e_receipts": True},
        "personal": {"name": "Ann Example", "email": "ann@example.org",
                     "phone": "+49 170 5550123", "card": "LOY-000123"}})
    assert r.status_code == 201, r.text
    assert r.json()["personal"]["name"] == "Ann Example"
    key = base64.b64decode(hq.get("/v1/hq/loyalty/key").json()["key_b64"])

    dirs = {}
    for store_id in ("store-001", "store-002"):
        data = dirs[store_id] = tmp_path / store_id
        data.mkdir()
        cred = relay.enroll("demo-tenant", store_id)
        (data / "sync-credential.json").write_bytes(msgspec.json.encode(cred))
        import_key(data, LoyaltyConfig(), key)
        # Online once: the customer comes down with HQ's balance.
        app = _start(relay, data, store_id, online=True)
        try:
            _wait(lambda: _balance(app).get("balance_points") == 1000, f"{store_id} cached")
        finally:
            app.close()

    # Offline, each store sells 2 x 4.99 paid 8.00 in points and 1.98 cash.
    for store_id, data in dirs.items():
        app = _start(relay, data, store_id, online=False)
        try:
            c = app.client()
            found = post(c, "/v1/customers/lookup", {"card": "LOY-000123"}).json()
            assert found["burnable_points"] == 1000 and found["name"] == "Ann Example"
            cart = open_cart(c)
            post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-ann"})
            post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G", "qty": 2})
            assert post(c, f"/v1/carts/{cart}/tenders",
                        {"tender_type": "points", "amount_minor": 800}).status_code == 201
            post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 198})
            assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201
            assert _balance(app)["balance_points"] == 1000 - 800 + 1  # its own view
        finally:
            app.close()

    # Back online: both upload; HQ settles; both pull the corrected balance.
    apps = [_start(relay, data, s, online=True) for s, data in dirs.items()]
    try:
        corrected = 1000 - 800 + 1 - 800 + 1
        for app in apps:
            _wait(lambda app=app: (_balance(app).get("balance_points"),
                                   _balance(app).get("pending_points")) == (corrected, 0),
                  "the corrected balance at the lane")
            assert _balance(app)["burnable_points"] == 0
        view = hq.get("/v1/hq/customers/c-ann").json()
        assert view["balance_points"] == corrected
        assert sum(m["points"] for m in view["movements"]) == corrected
        comps = [m for m in view["movements"] if m["type"] == "loyalty.points_overdrawn"]
        assert len(comps) == 1 and comps[0]["store_id"] is None, view["movements"]
        assert {m["store_id"] for m in view["movements"] if m["store_id"]} == set(dirs)

        # Erasure at HQ reaches both stores.
        hq_wrapped = relay.storage.customer("demo-tenant", "c-ann").wrapped_key
        assert hq_wrapped
        r = hq.delete("/v1/hq/customers/c-ann")
        assert r.status_code == 200 and r.json()["erased"] and r.json()["personal"] is None
        for app in apps:
            _wait(lambda app=app: _balance(app).get("erased") is True, "the erasure at a store")
            assert _balance(app)["name"] is None
            assert_problem(post(app.client(), "/v1/customers/lookup", {"card": "LOY-000123"}),
                           404, "customer-unknown")
    finally:
        for app in apps:
            app.close()

    for data in dirs.values():
        assert verify(data / "store.db").ok
        assert not any(c in p.read_bytes() for p in data.glob("store.db*") for c in CLEAR)
    export = tmp_path / "export.jsonl"
    export_file(relay.storage, "demo-tenant", "jsonl", export)
    text = export.read_bytes()
    assert b"loyalty.customer_cached" in text and not any(c in text for c in CLEAR)
    assert hq.get("/v1/hq/customers/c-ann").json()["personal"] is None
    # No copy of the customer's data key is left at HQ: not in its key table, not in a change.
    with relay.storage._read() as tx:
        assert tx.rows("SELECT 1 FROM hq_customer_keys WHERE customer_id = 'c-ann'") == []
        kinds = {r[0] for r in tx.rows("SELECT kind FROM changes WHERE tenant_id = 'demo-tenant'")}
    assert "loyalty.customer" not in kinds
    if relay.storage.backend == "sqlite":  # the relay's files hold neither PII nor the key
        db = Path(relay.storage.path)
        conn = apsw.Connection(str(db))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        files = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
        assert hq_wrapped not in files and not any(c in files for c in CLEAR)
