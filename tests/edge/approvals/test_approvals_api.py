"""Manager approvals over loopback HTTP: a discount over the limit is refused with what needs
approving, approved by PIN or from an enrolled device, and the retried request spends the
token once; every approval, denial and override is in the audit trail."""

from __future__ import annotations

import msgspec
import pytest

from core import bodycodec
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.edge.approvals.helpers import PIN, admin, enroll, enroll_device, signed
from tests.support.live_app import LiveApp

HALF_OFF = {"line_id": 1, "kind": "percent", "value": 5000, "reason": "damaged"}


@pytest.fixture
def store(live: LiveApp) -> LiveApp:
    with admin(live.url, live.service.data_dir) as a:
        enroll(a)
    return live


def _cart(live: LiveApp):
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "TSHIRT-BLK-M"})  # 14.99
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})  # 2.49
    return cart, c


def _events(live: LiveApp, kind: str) -> list[tuple[int, dict]]:
    return [(seq, msgspec.json.decode(bodycodec.decode(body))) for seq, body in live.service.reader.execute(
        "SELECT seq, body FROM events WHERE type = ? ORDER BY seq", (kind,)).fetchall()]


def _asked(live: LiveApp, c, cart: str, body=HALF_OFF, key: str = "disc-1") -> dict:
    r = post(c, f"/v1/carts/{cart}/discounts", body, key=key)
    return assert_problem(r, 403, "approval-required")["approval"]


def _pin(c, approval_id: str, pin: str = PIN, approver: str = "anna"):
    return post(c, f"/v1/approvals/{approval_id}/pin", {"approver_id": approver, "pin": pin})


def test_discount_over_the_limit_is_approved_by_pin_and_the_retry_spends_the_token(store) -> None:
    cart, c = _cart(store)
    need = _asked(store, c, cart)
    assert need["action"] == "line_discount" and need["amount_minor"] == 750
    assert need["share_bp"] == 5000 and need["rule"] == "line_discount:above_bp=2000"
    assert need["fingerprint"] == f"line_discount|cart:{cart}/line:1|750"
    [(_, requested)] = _events(store, "approval.requested")
    assert requested["approval_id"] == need["approval_id"] and requested["lane_id"] == "lane-1"
    # Asking again without a token names the same pending approval: nothing new recorded.
    assert _asked(store, c, cart)["approval_id"] == need["approval_id"]
    assert len(_events(store, "approval.requested")) == 1

    ok = _pin(c, need["approval_id"])
    assert ok.status_code == 200, ok.text
    token = ok.json()["token"]
    assert ok.json()["state"] == "approved" and ok.json()["via"] == "pin"
    r = post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-1",
             headers={"X-Approval-Token": token})
    assert r.status_code == 200, r.text
    assert r.json()["lines"][0]["discount_minor"] == 750
    [(applied_seq, _)] = _events(store, "cart.discount_applied")
    [(used_seq, used)] = _events(store, "approval.used")
    assert used["action_seq"] == applied_seq == used_seq + 1
    assert used["approver_id"] == "anna"
    # The same request again is a replay; the token on another request is spent.
    again = post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-1",
                 headers={"X-Approval-Token": token})
    assert again.headers.get("Idempotent-Replayed") == "true"
    seq = head_seq(store)
    reused = post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-2",
                  headers={"X-Approval-Token": token})
    assert_problem(reused, 403, "approval-token-used")
    assert head_seq(store) == seq


def test_a_token_for_one_amount_does_not_approve_another(store) -> None:
    cart, c = _cart(store)
    need = _asked(store, c, cart)
    token = _pin(c, need["approval_id"]).json()["token"]
    seq = head_seq(store)
    more = {**HALF_OFF, "value": 6000}
    r = post(c, f"/v1/carts/{cart}/discounts", more, key="disc-more",
             headers={"X-Approval-Token": token})
    body = assert_problem(r, 403, "approval-token-mismatch")
    assert "|750" in body["detail"] and "|899" in body["detail"]  # 60 % of 14.99
    assert head_seq(store) == seq
    # Another lane cannot spend it either.
    other = store.client("lane-2")
    r = post(other, f"/v1/carts/{cart}/discounts", HALF_OFF, headers={"X-Approval-Token": token})
    assert r.status_code == 403
    assert_problem(post(c, f"/v1/carts/{cart}/discounts", HALF_OFF,
                        headers={"X-Approval-Token": "apv1.nope.nope"}), 403,
                   "approval-token-invalid")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_problem(post(c, f"/v1/carts/{cart}/discounts", HALF_OFF,
                        headers={"X-Approval-Token": forged}), 403, "approval-token-invalid")


def test_an_expired_token_is_refused(store) -> None:
    cart, c = _cart(store)
    need = _asked(store, c, cart)
    token = _pin(c, need["approval_id"]).json()["token"]
    store.clock.advance(120_000)  # [approvals] token_ttl_s = 120 by default
    r = post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-1",
             headers={"X-Approval-Token": token})
    assert_problem(r, 403, "approval-token-expired")
    assert store.client().get(f"/v1/approvals/{need['approval_id']}").json()["state"] == "expired"


def test_five_wrong_pins_lock_the_approver_out(store) -> None:
    cart, c = _cart(store)
    need = _asked(store, c, cart)
    for left in (4, 3, 2, 1):
        body = assert_problem(_pin(c, need["approval_id"], "0000"), 403, "approval-pin-wrong")
        assert f"{left} more wrong PIN" in body["detail"]
    locked = _pin(c, need["approval_id"], "0000")
    assert_problem(locked, 403, "approval-pin-locked")
    assert int(locked.headers["Retry-After"]) == 900
    # Even the right PIN is refused while locked, and nothing is granted.
    assert_problem(_pin(c, need["approval_id"]), 403, "approval-pin-locked")
    assert _events(store, "approval.granted") == []
    refused = _events(store, "approval.pin_refused")
    assert [e["failures"] for _, e in refused] == [1, 2, 3, 4, 5]
    assert refused[-1][1]["locked_until_ms"] is not None
    store.clock.advance(900_000)  # [approvals] pin_lockout_s; the request itself expired
    assert_problem(_pin(c, need["approval_id"]), 409, "approval-closed")
    again = _asked(store, c, cart)
    assert again["approval_id"] != need["approval_id"]
    assert _pin(c, again["approval_id"]).status_code == 200


def test_a_manager_token_is_an_implicit_approval_recorded_as_an_override(store) -> None:
    cart, _ = _cart(store)
    manager = store.client("manager-1")
    r = post(manager, f"/v1/carts/{cart}/discounts", HALF_OFF)
    assert r.status_code == 200, r.text
    [(applied_seq, _)] = _events(store, "cart.discount_applied")
    [(_, override)] = _events(store, "approval.overridden")
    assert override["approver_id"] == "manager-1" and override["action_seq"] == applied_seq
    assert override["amount_minor"] == 750 and override["reason"] == "damaged"
    audit = manager.get("/v1/audit", params={"actor": "manager-1"}).json()["entries"]
    assert [(e["type"], e["action_seq"]) for e in audit] == [("approval.overridden", applied_seq)]


def test_within_the_limit_nothing_is_asked_or_recorded(store) -> None:
    cart, c = _cart(store)
    r = post(c, f"/v1/carts/{cart}/discounts", {"line_id": 1, "kind": "percent", "value": 1000})
    assert r.status_code == 200
    assert store.client("manager-1").get("/v1/audit").json()["entries"] == []


def test_remote_approval_signed_on_an_enrolled_device(store) -> None:
    with admin(store.url, store.service.data_dir) as a:
        key = enroll_device(a, "anna", "anna-phone")
    cart, c = _cart(store)
    need = _asked(store, c, cart)
    manager = store.client("manager-1")
    pending = manager.get("/v1/approvals", params={"state": "pending"}).json()["approvals"]
    assert [p["approval_id"] for p in pending] == [need["approval_id"]]
    assert pending[0]["statement"].startswith("novapos-approval/1\ntenant=demo-tenant")
    assert_problem(c.get("/v1/approvals"), 403, "forbidden")  # a cashier lists nothing
    now = store.clock.now_ms()
    # A statement signed by another key, or for another decision, does not verify.
    bad = signed(key, approval=need, decision="deny", approver_id="anna",
                 device_id="anna-phone", signed_at_ms=now)
    bad["decision"] = "approve"
    assert_problem(post(manager, f"/v1/approvals/{need['approval_id']}/decision", bad), 403,
                   "approval-signature-invalid")
    stale = signed(key, approval=need, decision="approve", approver_id="anna",
                   device_id="anna-phone", signed_at_ms=now - 301_000)
    assert_problem(post(manager, f"/v1/approvals/{need['approval_id']}/decision", stale), 403,
                   "approval-signature-invalid")
    body = signed(key, approval=need, decision="approve", approver_id="anna",
                  device_id="anna-phone", signed_at_ms=now, reason="ok by phone")
    assert_problem(post(c, f"/v1/approvals/{need['approval_id']}/decision", body), 403,
                   "forbidden")  # decided by a manager's device, not from the till
    r = post(manager, f"/v1/approvals/{need['approval_id']}/decision", body)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved" and "token" not in r.json()  # the lane gets it
    mine = c.get(f"/v1/approvals/{need['approval_id']}").json()
    assert mine["via"] == "device" and mine["reason"] == "ok by phone"
    r = post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-1",
             headers={"X-Approval-Token": mine["token"]})
    assert r.status_code == 200, r.text
    [(_, granted)] = _events(store, "approval.granted")
    assert granted["device_id"] == "anna-phone"


def test_a_revoked_device_key_stops_its_approval_and_its_decisions(store) -> None:
    with admin(store.url, store.service.data_dir) as a:
        key = enroll_device(a, "anna", "anna-phone")
        cart, c = _cart(store)
        need = _asked(store, c, cart)
        manager = store.client("manager-1")
        body = signed(key, approval=need, decision="approve", approver_id="anna",
                      device_id="anna-phone", signed_at_ms=store.clock.now_ms())
        assert post(manager, f"/v1/approvals/{need['approval_id']}/decision", body).status_code == 200
        token = c.get(f"/v1/approvals/{need['approval_id']}").json()["token"]
        r = a.delete("/v1/admin/approvers/anna/devices/anna-phone",
                     headers={"Idempotency-Key": "revoke-1"})
        assert r.status_code == 200 and r.json()["approvers"][0]["revoked_devices"] == ["anna-phone"]
    assert_problem(post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-1",
                        headers={"X-Approval-Token": token}), 403, "approval-key-revoked")
    need2 = _asked(store, c, cart, {**HALF_OFF, "value": 4000}, key="disc-2")
    body = signed(key, approval=need2, decision="approve", approver_id="anna",
                  device_id="anna-phone", signed_at_ms=store.clock.now_ms())
    assert_problem(post(manager, f"/v1/approvals/{need2['approval_id']}/decision", body), 403,
                   "approval-key-revoked")


def test_a_denial_is_final_and_audited(store) -> None:
    with admin(store.url, store.service.data_dir) as a:
        key = enroll_device(a, "anna", "anna-phone")
    cart, c = _cart(store)
    need = _asked(store, c, cart)
    manager = store.client("manager-1")
    body = signed(key, approval=need, decision="deny", approver_id="anna",
                  device_id="anna-phone", signed_at_ms=store.clock.now_ms(), reason="too much")
    assert post(manager, f"/v1/approvals/{need['approval_id']}/decision", body).json()["state"] == "denied"
    assert_problem(post(manager, f"/v1/approvals/{need['approval_id']}/decision", body), 409,
                   "approval-closed")
    assert_problem(_pin(c, need["approval_id"]), 409, "approval-closed")
    assert "token" not in c.get(f"/v1/approvals/{need['approval_id']}").json()
    audit = manager.get("/v1/audit", params={"actor": "anna"}).json()["entries"]
    assert [(e["type"], e["reason"]) for e in audit] == [("approval.denied", "too much")]


def test_the_audit_trail_by_time_and_actor(store) -> None:
    cart, c = _cart(store)
    need = _asked(store, c, cart)
    t0 = store.clock.now_ms()
    store.clock.advance(1_000)
    _pin(c, need["approval_id"], "1111")
    token = _pin(c, need["approval_id"]).json()["token"]
    post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-1",
         headers={"X-Approval-Token": token})
    manager = store.client("manager-1")
    everything = manager.get("/v1/audit").json()["entries"]
    assert [e["type"] for e in everything] == [
        "approval.requested", "approval.pin_refused", "approval.granted", "approval.used"]
    assert all(e["approval_id"] == need["approval_id"] for e in everything)
    assert all(e["action"] == "line_discount" and e["rule"] == "line_discount:above_bp=2000"
               for e in everything)
    later = manager.get("/v1/audit", params={"from": t0 + 1}).json()["entries"]
    assert [e["type"] for e in later] == ["approval.pin_refused", "approval.granted",
                                          "approval.used"]
    before = manager.get("/v1/audit", params={"to": t0 + 1}).json()["entries"]
    assert [e["actor"] for e in before] == ["lane-1"]
    assert_problem(manager.get("/v1/audit", params={"from": 5, "to": 1}), 422, "invalid-input")
    assert_problem(c.get("/v1/audit"), 403, "forbidden")


def test_a_refund_over_the_limit_is_approved_by_pin(live_with) -> None:
    live = live_with({"NOVAPOS_TENDER__REFUND_MANAGER_ABOVE_MINOR": "100"})
    with admin(live.url, live.service.data_dir) as a:
        enroll(a)
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 249})
    oid = post(c, f"/v1/carts/{cart}/complete", {}).json()["order_id"]
    r = post(c, f"/v1/orders/{oid}/refunds", {}, key="refund-1")
    need = assert_problem(r, 403, "approval-required")["approval"]
    assert (need["action"], need["amount_minor"], need["subject"]) == ("refund", 249, f"order:{oid}")
    token = _pin(c, need["approval_id"]).json()["token"]
    r = post(c, f"/v1/orders/{oid}/refunds", {}, key="refund-1",
             headers={"X-Approval-Token": token})
    assert r.status_code == 201, r.text
    [(refund_seq, _)] = _events(live, "order.refund_created")
    [(_, used)] = _events(live, "approval.used")
    assert used["action_seq"] == refund_seq


def test_a_void_over_the_configured_lines_needs_approval(live_with) -> None:
    live = live_with({"NOVAPOS_APPROVALS__RULES": '[{ action = "cart_void", above_lines = 1 }]'})
    with admin(live.url, live.service.data_dir) as a:
        enroll(a)
    cart, c = _cart(live)
    need = assert_problem(post(c, f"/v1/carts/{cart}/void", {}, key="void-1"), 403,
                          "approval-required")["approval"]
    assert (need["action"], need["lines"], need["rule"]) == ("cart_void", 2, "cart_void:above_lines=1")
    token = _pin(c, need["approval_id"]).json()["token"]
    r = post(c, f"/v1/carts/{cart}/void", {}, key="void-1", headers={"X-Approval-Token": token})
    assert r.status_code == 200 and r.json()["status"] == "voided", r.text

