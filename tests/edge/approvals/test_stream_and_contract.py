"""The managers' stream shows requests as they are asked and decided; the approvals read
models rebuild from the log alone; the OpenAPI says what the routes answer."""

from __future__ import annotations

from tests.edge.api.helpers import assert_problem, open_cart, post
from tests.edge.approvals.helpers import PIN, admin, enroll, enroll_device, signed
from tests.edge.devices.helpers import SseReader
from tests.support.live_app import LiveApp
from tests.support.store import verify

HALF_OFF = {"line_id": 1, "kind": "percent", "value": 5000}


def test_the_stream_shows_pending_requests_then_each_decision(live: LiveApp) -> None:
    with admin(live.url, live.service.data_dir) as a:
        enroll(a)
        key = enroll_device(a, "anna", "anna-phone")
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "TSHIRT-BLK-M"})
    first = assert_problem(post(c, f"/v1/carts/{cart}/discounts", HALF_OFF), 403,
                           "approval-required")["approval"]
    manager_token = live.tokens["manager-1"]
    stream = SseReader(f"{live.url}/v1/approvals/stream",
                       {"Authorization": f"Bearer {manager_token}"}).start()
    # Already pending when the device connected:
    assert stream.next("approval.pending")["approval_id"] == first["approval_id"]
    cart2 = open_cart(c)
    post(c, f"/v1/carts/{cart2}/lines", {"sku": "TSHIRT-BLK-M"})
    second = assert_problem(post(c, f"/v1/carts/{cart2}/discounts", HALF_OFF), 403,
                            "approval-required")["approval"]
    live_event = stream.next("approval.requested")
    assert live_event["approval_id"] == second["approval_id"]
    assert live_event["state"] == "pending" and live_event["amount_minor"] == 750
    body = signed(key, approval=live_event, decision="approve", approver_id="anna",
                  device_id="anna-phone", signed_at_ms=live.clock.now_ms())
    assert post(live.client("manager-1"), f"/v1/approvals/{second['approval_id']}/decision",
                body).status_code == 200
    decided = stream.next("approval.granted")
    assert decided["approval_id"] == second["approval_id"] and decided["state"] == "approved"
    assert "token" not in decided  # the token is for the lane that asked, never broadcast
    cashier = SseReader(f"{live.url}/v1/approvals/stream",
                        {"Authorization": f"Bearer {live.tokens['lane-1']}"}).start()
    assert cashier.next("http-error")  # managers only
    assert cashier.status == 403


def test_approval_read_models_rebuild_from_the_log(live: LiveApp) -> None:
    with admin(live.url, live.service.data_dir) as a:
        enroll(a)
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "TSHIRT-BLK-M"})
    need = assert_problem(post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="k1"), 403,
                          "approval-required")["approval"]
    post(c, f"/v1/approvals/{need['approval_id']}/pin", {"approver_id": "anna", "pin": "9999"})
    token = post(c, f"/v1/approvals/{need['approval_id']}/pin",
                 {"approver_id": "anna", "pin": PIN}).json()["token"]
    assert post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="k1",
                headers={"X-Approval-Token": token}).status_code == 200
    post(live.client("manager-1"), f"/v1/carts/{cart}/discounts",
         {"kind": "percent", "value": 3000})
    live.close()
    report = verify(live.service.db_path)
    assert report.chain.ok and report.mismatched_tables == {}
    assert report.rebuilt_events > 0


def test_the_openapi_declares_the_approval_problem_and_the_token_header(live: LiveApp) -> None:
    spec = live.client().get("/schema/openapi.json").json()
    for path, method in (("/v1/carts/{cart_id}/discounts", "post"),
                         ("/v1/carts/{cart_id}/void", "post"),
                         ("/v1/orders/{order_id}/refunds", "post")):
        op = spec["paths"][path][method]
        headers = {p["name"]: p for p in op["parameters"] if p["in"] == "header"}
        assert headers["X-Approval-Token"]["required"] is False
        assert "approval-required" in op["responses"]["403"]["description"]
    problem = spec["components"]["schemas"]["Problem"]["properties"]
    assert "approval" in problem
    opened = spec["paths"]["/v1/carts"]["post"]
    assert "X-Approval-Token" not in {p["name"] for p in opened.get("parameters", [])}
    assert "/v1/approvals/{approval_id}/pin" in spec["paths"]
    assert "/v1/audit" in spec["paths"]
