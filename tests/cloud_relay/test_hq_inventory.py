"""HQ's inventory routes on the relay: a transfer goes down as a request to the sender and a
delivery to the receiver; a pickup order is published once per order id (a different body
under the same id is 409); bad bodies and states are 400 problems and publish nothing; the
state of an order nobody reported on is `sent`."""

from __future__ import annotations

import msgspec

from schemas.sync import ChangeSet
from tests.support.relay import Relay

LINES = [{"sku": "MILK-1L", "qty_milli": 2000}]


def _kinds(relay: Relay, cred) -> list[tuple[str, dict]]:
    resp = relay.store_client(cred).get("/v1/stores/" + cred.store_id + "/changes?after=0")
    assert resp.status_code == 200, resp.text
    return [(c.kind, msgspec.json.decode(c.payload))
            for c in msgspec.json.decode(resp.content, type=ChangeSet).changes]


def test_transfers_deliveries_and_pickup_orders_go_down(relay: Relay) -> None:
    a, b = relay.enroll("t1", "s1"), relay.enroll("t1", "s2")
    hq = relay.hq_client(relay.hq_token("t1"))
    r = hq.post("/v1/hq/transfers", json={"transfer_id": "T1", "from_store_id": "s1",
                                          "to_store_id": "s2", "lines": LINES})
    assert r.status_code == 201 and r.json()["first_change_id"] == 1, r.text
    assert [k for k, _ in _kinds(relay, a)] == ["inventory.transfer"]
    (kind, delivery), = _kinds(relay, b)
    assert kind == "inventory.delivery" and delivery["source"] == "transfer"
    assert delivery["from_store_id"] == "s1" and delivery["delivery_id"] == "T1"

    order = {"order_id": "W1", "store_id": "s1", "lines": [{"sku": "MILK-1L",
                                                            "qty_milli": 1000}]}
    first = hq.post("/v1/hq/pickup-orders", json=order)
    assert first.status_code == 201 and first.json()["state"] == "sent"
    code = first.json()["pickup_code"]
    assert len(code) == 6 and code.isdigit()
    assert hq.post("/v1/hq/pickup-orders", json=order).json()["pickup_code"] == code
    clash = hq.post("/v1/hq/pickup-orders", json={**order, "prepaid": False})
    assert clash.status_code == 409, clash.text
    assert [k for k, _ in _kinds(relay, a)] == ["inventory.transfer", "pickup.order"]
    listed = hq.get("/v1/hq/pickup-orders", params={"state": "sent"}).json()["orders"]
    assert [o["order_id"] for o in listed] == ["W1"]
    stock = hq.get("/v1/hq/stock", params={"store": "s1"}).json()
    assert stock["stores"] == [{"store_id": "s1", "synced_seq": 0, "items": []}]


def test_bad_hq_requests_are_problems_and_publish_nothing(relay: Relay) -> None:
    a = relay.enroll("t1", "s1")
    hq = relay.hq_client(relay.hq_token("t1"))
    bad = [
        ("/v1/hq/transfers", {"transfer_id": "T", "from_store_id": "s1", "to_store_id": "s1",
                              "lines": LINES}, 422),
        ("/v1/hq/transfers", {"transfer_id": "T", "from_store_id": "s1", "lines": LINES}, 400),
        ("/v1/hq/deliveries", {"delivery_id": "D", "store_id": "s1", "lines": []}, 400),
        ("/v1/hq/deliveries", {"delivery_id": "D", "store_id": "s1", "source": "transfer",
                               "lines": LINES}, 422),
        ("/v1/hq/pickup-orders", {"order_id": "W", "store_id": "s1", "pickup_code": "1",
                                  "lines": LINES}, 400),
        ("/v1/hq/pickup-orders", {"order_id": "W", "store_id": "s1",
                                  "lines": [{"sku": "X", "qty_milli": 0}]}, 400),
    ]
    for path, body, status in bad:
        r = hq.post(path, json=body)
        assert r.status_code == status, (path, body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert hq.get("/v1/hq/pickup-orders", params={"state": "lost"}).status_code == 400
    assert _kinds(relay, a) == []
    assert relay.hq_client("not-a-token").get("/v1/hq/stock").status_code == 401
