"""HQ counts the stores' approvals, denials, overrides and refused PINs per store and per
approver, from the audit trail shipped to the relay like every other event."""

from __future__ import annotations

from edge.store import eventlog
from edge.store.db import open_connection
from schemas.sync import PROTOCOL_VERSION, Batch, batch_id
from tests.edge.api.helpers import assert_problem, open_cart, post
from tests.edge.approvals.helpers import PIN, admin, enroll
from tests.support.live_app import LiveApp
from tests.support.relay import Relay

HALF_OFF = {"line_id": 1, "kind": "percent", "value": 5000}


def _ship(live: LiveApp, relay: Relay) -> None:
    ident = live.service.identity
    client = relay.store_client(relay.enroll(ident.tenant_id, ident.store_id))
    conn = open_connection(live.service.db_path, readonly=True)
    try:
        log = list(eventlog.read(conn))
    finally:
        conn.close()
    for i in range(0, len(log), 50):
        part = log[i:i + 50]
        client.ack(Batch(PROTOCOL_VERSION, batch_id(ident.store_id, part[0].seq, part[-1].seq),
                         ident.tenant_id, ident.store_id, part[0].seq, part[-1].seq,
                         part[0].prev_hash, part[-1].hash, part))


def _discount_approved(live: LiveApp, approver: str, pin: str, wrong_first: bool) -> None:
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "TSHIRT-BLK-M"})
    need = assert_problem(post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key=cart), 403,
                          "approval-required")["approval"]
    if wrong_first:
        post(c, f"/v1/approvals/{need['approval_id']}/pin", {"approver_id": approver,
                                                              "pin": "0000"})
    token = post(c, f"/v1/approvals/{need['approval_id']}/pin",
                 {"approver_id": approver, "pin": pin}).json()["token"]
    assert post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key=cart,
                headers={"X-Approval-Token": token}).status_code == 200


def test_hq_counts_approvals_per_store_and_approver(live: LiveApp, relay: Relay) -> None:
    with admin(live.url, live.service.data_dir) as a:
        enroll(a, "anna")
        enroll(a, "bob", "13579")
    _discount_approved(live, "anna", PIN, wrong_first=True)
    _discount_approved(live, "anna", PIN, wrong_first=False)
    _discount_approved(live, "bob", "13579", wrong_first=False)
    manager = live.client("manager-1")
    cart = open_cart(manager)
    post(manager, f"/v1/carts/{cart}/lines", {"sku": "TSHIRT-BLK-M"})
    assert post(manager, f"/v1/carts/{cart}/discounts", HALF_OFF).status_code == 200
    _ship(live, relay)

    ident = live.service.identity
    hq = relay.hq_client(relay.hq_token(ident.tenant_id))
    body = hq.get("/v1/hq/approvals").json()
    assert body["stores"] == [{"store_id": "store-001", "requested": 3, "approved": 3,
                               "denied": 0, "used": 3, "overridden": 1, "pin_refused": 1}]
    counts = {r["approver_id"]: (r["approved"], r["used"], r["overridden"], r["pin_refused"])
              for r in body["approvers"]}
    assert counts == {"anna": (2, 2, 0, 1), "bob": (1, 1, 0, 0), "manager-1": (0, 0, 1, 0)}
    assert hq.get("/v1/hq/approvals", params={"store": "store-999"}).json()["stores"] == []
    assert hq.get("/v1/hq/approvals", params={"business_date": "nope"}).status_code == 400
    other = relay.hq_client(relay.hq_token("another-tenant"))
    assert other.get("/v1/hq/approvals").json()["approvers"] == []
