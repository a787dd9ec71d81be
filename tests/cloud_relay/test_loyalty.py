"""HQ's loyalty over the relay's HTTP API: enrollment, settling uploaded movements once under
retried and overlapping batches, the tier over 12 months pushed down, bad input refused."""

from __future__ import annotations

import msgspec

from schemas import loyalty as lo
from schemas.sync import ChangeSet
from tests.support.relay import Chain, Relay

ANN = {"name": "Ann Example", "email": "ann@example.org", "card": "LOY-1"}


def _earn(chain: Chain, order: str, points: int) -> None:
    chain.append(lo.PointsEarned(customer_id="c-ann", order_id=order, points=points,
                                 eligible_minor=points * 100, tier=""), stream="customer:c-ann")


def test_uploads_settle_once_and_the_new_balance_and_tier_go_down(relay: Relay) -> None:
    hq = relay.hq_client(relay.hq_token("t1"))
    r = hq.post("/v1/hq/customers", json={"customer_id": "c-ann", "personal": ANN,
                                          "balance_points": 100})
    assert r.status_code == 201, r.text
    assert (r.json()["balance_points"], r.json()["tier"]) == (100, "")
    assert hq.post("/v1/hq/customers", json={"customer_id": "c-ann", "personal": ANN}
                   ).status_code == 409
    client = relay.store_client(relay.enroll("t1", "s1"))
    chain = Chain("t1", "s1")
    chain.extend(2)
    _earn(chain, "o1", 600)
    chain.append(lo.PointsBurned(customer_id="c-ann", cart_id="k", payment_id="p1", points=50,
                                 amount_minor=50), stream="customer:c-ann")
    _earn(chain, "o2", 500)
    client.ack(chain.batch(1, 4))
    client.ack(chain.batch(1, 4))  # a retry
    client.ack(chain.batch(3, 5))  # an overlap
    assert hq.post("/v1/hq/loyalty/settle").json() == {"applied": 3}
    assert hq.post("/v1/hq/loyalty/settle").json() == {"applied": 0}
    view = hq.get("/v1/hq/customers/c-ann").json()
    assert (view["balance_points"], view["earned_12m_points"], view["tier"]) == (
        1150, 1100, "silver")
    assert view["personal"]["name"] == "Ann Example"
    assert [(m["store_id"], m["seq"], m["points"]) for m in view["movements"]] == [
        (None, None, 100), ("s1", 3, 600), ("s1", 4, -50), ("s1", 5, 500)]
    resp = client.request("GET", "/v1/stores/s1/changes?after=0")
    changes = msgspec.json.decode(resp.content, type=ChangeSet).changes
    last = msgspec.json.decode(changes[-1].payload, type=lo.CustomerChange)
    assert (last.balance_points, last.tier, last.hq_seqs) == (1150, "silver", {"s1": 5})
    assert b"Ann" not in resp.content and b"ann@example.org" not in resp.content


def test_hq_refuses_bad_customers_and_unknown_ids(relay: Relay) -> None:
    hq = relay.hq_client(relay.hq_token("t1"))
    assert hq.post("/v1/hq/customers", content=b"{").status_code == 400
    assert hq.post("/v1/hq/customers", json={"customer_id": "bad id", "personal": ANN}
                   ).status_code == 400
    assert hq.get("/v1/hq/customers/nobody").status_code == 404
    assert hq.delete("/v1/hq/customers/nobody").status_code == 404
    assert relay.hq_client("wrong-token").get("/v1/hq/customers/c-ann").status_code == 401
