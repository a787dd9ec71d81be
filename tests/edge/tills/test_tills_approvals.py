"""Cash actions a manager must approve go through the approvals domain, over loopback HTTP:
a cashier's pay-out, no-sale and close over/short are refused 403 `approval-required` naming
a pending request, approved by a manager's PIN at the lane or from a manager's enrolled device,
and the lane's retry (same Idempotency-Key, X-Approval-Token) goes through once; a denial
stays refused; a manager's own token still approves on the spot (an audited override); with no
approver enrolled the old 403 `manager-approval-required` stands."""

from __future__ import annotations

import msgspec
import pytest

from core import bodycodec
from tests.edge.api.helpers import assert_problem, head_seq, post
from tests.edge.approvals.helpers import PIN, admin, enroll, enroll_device, signed
from tests.support.live_app import LiveApp

FLOAT = [{"value_minor": 2000, "pieces": 5}, {"value_minor": 100, "pieces": 50}]  # 150.00
PAY_OUT = {"kind": "pay_out", "amount_minor": 700, "reason": "window cleaner"}


@pytest.fixture
def store(live: LiveApp) -> LiveApp:
    with admin(live.url, live.service.data_dir) as a:
        enroll(a)
    assert post(live.client("lane-1"), "/v1/tills/till-1/open",
                {"float_count": FLOAT}).status_code == 201
    return live


def _events(live: LiveApp, kind: str) -> list[tuple[int, dict]]:
    return [(seq, msgspec.json.decode(bodycodec.decode(body)))
            for seq, body in live.service.reader.execute(
                "SELECT seq, body FROM events WHERE type = ? ORDER BY seq", (kind,)).fetchall()]


def _pin(c, approval_id: str):
    r = post(c, f"/v1/approvals/{approval_id}/pin", {"approver_id": "anna", "pin": PIN})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_a_cashiers_pay_out_is_asked_approved_by_pin_and_the_retry_spends_it(store) -> None:
    c = store.client("lane-1")
    seq = head_seq(store)
    need = assert_problem(post(c, "/v1/tills/till-1/movements", PAY_OUT, key="pay-1"), 403,
                          "approval-required")["approval"]
    assert (need["action"], need["amount_minor"]) == ("cash_paid_out", 700)
    assert need["subject"].startswith("till:till-1/session:")
    assert need["rule"] == "cash_paid_out:always"
    # Only the request is recorded: no cash moved.
    assert head_seq(store) == seq + 1
    assert store.client("lane-1").get("/v1/tills/till-1").json()["movements"] == []
    token = _pin(c, need["approval_id"])
    r = post(c, "/v1/tills/till-1/movements", PAY_OUT, key="pay-1",
             headers={"X-Approval-Token": token})
    assert r.status_code == 201, r.text
    assert [m["kind"] for m in r.json()["movements"]] == ["pay_out"]
    [(moved_seq, _)] = _events(store, "till.cash_moved")
    [(_, used)] = _events(store, "approval.used")
    assert used["action_seq"] == moved_seq and used["approver_id"] == "anna"
    # The token is spent: another pay-out with it is refused and moves nothing.
    seq = head_seq(store)
    assert_problem(post(c, "/v1/tills/till-1/movements", PAY_OUT, key="pay-2",
                        headers={"X-Approval-Token": token}), 403, "approval-token-used")
    assert head_seq(store) == seq
    # A pay-out refused anyway (no reason) asks nobody.
    assert_problem(post(c, "/v1/tills/till-1/movements", {**PAY_OUT, "reason": " "}), 422,
                   "invalid-input")
    assert head_seq(store) == seq


def test_a_no_sale_approved_from_a_managers_device_and_a_denied_one(store) -> None:
    with admin(store.url, store.service.data_dir) as a:
        key = enroll_device(a, "anna", "anna-phone")
    c, mgr = store.client("lane-1"), store.client("manager-1")

    def decide(need: dict, decision: str):
        body = signed(key, approval=need, decision=decision, approver_id="anna",
                      device_id="anna-phone", signed_at_ms=store.clock.now_ms(),
                      reason="change for the market")
        r = post(mgr, f"/v1/approvals/{need['approval_id']}/decision", body)
        assert r.status_code == 200, r.text

    need = assert_problem(post(c, "/v1/tills/till-1/no-sale", {"reason": "change"},
                               key="ns-1"), 403, "approval-required")["approval"]
    assert need["action"] == "no_sale" and need.get("amount_minor") is None
    pending = mgr.get("/v1/approvals", params={"state": "pending"}).json()
    assert need["approval_id"] in [p["approval_id"] for p in pending["approvals"]]
    decide(need, "approve")
    token = c.get(f"/v1/approvals/{need['approval_id']}").json()["token"]
    r = post(c, "/v1/tills/till-1/no-sale", {"reason": "change"}, key="ns-1",
             headers={"X-Approval-Token": token})
    assert r.status_code == 201, r.text
    [(ns_seq, no_sale)] = _events(store, "till.no_sale")
    assert no_sale["approved_by"] == "anna"
    assert _events(store, "approval.used")[0][1]["action_seq"] == ns_seq

    # Denied: the retry stays refused and nothing opens the drawer.
    need = assert_problem(post(c, "/v1/tills/till-1/no-sale", {"reason": "again"},
                               key="ns-2"), 403, "approval-required")["approval"]
    decide(need, "deny")
    denied = c.get(f"/v1/approvals/{need['approval_id']}").json()
    assert denied["state"] == "denied" and denied.get("token") is None
    seq = head_seq(store)
    assert_problem(post(c, "/v1/tills/till-1/no-sale", {"reason": "again"}, key="ns-2"), 403,
                   "approval-required")  # no token: a new request is asked (recorded)
    assert head_seq(store) == seq + 1
    assert len(_events(store, "till.no_sale")) == 1
    trail = mgr.get("/v1/audit", params={"actor": "anna"}).json()["entries"]
    assert [e["type"] for e in trail] == ["approval.granted", "approval.used",
                                          "approval.denied"]


def test_a_close_short_beyond_the_threshold_needs_an_approval_for_that_very_count(store) -> None:
    c = store.client("lane-1")
    short = [{"value_minor": 100, "pieces": 130}]  # 130.00 of 150.00: 20.00 short
    need = assert_problem(post(c, "/v1/tills/till-1/close", {"counted": short}, key="close"),
                          403, "approval-required")["approval"]
    assert (need["action"], need["amount_minor"]) == ("till_close_difference", 2000)
    assert need["subject"].endswith("/short")
    token = _pin(c, need["approval_id"])
    # Another count (another difference) is not what was approved.
    other = [{"value_minor": 100, "pieces": 120}]
    assert_problem(post(c, "/v1/tills/till-1/close", {"counted": other},
                        headers={"X-Approval-Token": token}), 403, "approval-token-mismatch")
    r = post(c, "/v1/tills/till-1/close", {"counted": short}, key="close",
             headers={"X-Approval-Token": token})
    assert r.status_code == 201, r.text
    z = r.json()
    assert z["over_short_minor"] == -2000 and z["z_number"] == 1
    [(closed_seq, closed)] = _events(store, "till.closed")
    [(used_seq, used)] = _events(store, "approval.used")
    assert used["action_seq"] == closed_seq == used_seq + 1
    assert closed["approved_by"] == "anna" and closed["last_seq"] == used_seq
    assert c.get("/v1/tills/till-1").json()["approved_by"] == "anna"


def test_a_managers_own_token_approves_on_the_spot_and_is_audited(store) -> None:
    mgr = store.client("manager-1")
    r = post(mgr, "/v1/tills/till-1/movements", PAY_OUT)
    assert r.status_code == 201, r.text
    [(moved_seq, _)] = _events(store, "till.cash_moved")
    [(_, override)] = _events(store, "approval.overridden")
    assert override["action"] == "cash_paid_out" and override["action_seq"] == moved_seq
    assert override["approver_id"] == "manager-1" and override["amount_minor"] == 700
    assert _events(store, "approval.requested") == []


def test_with_no_approver_enrolled_a_manager_token_must_make_it(live: LiveApp) -> None:
    c = live.client("lane-1")
    assert post(c, "/v1/tills/till-1/open", {"float_count": FLOAT}).status_code == 201
    seq = head_seq(live)
    body = assert_problem(post(c, "/v1/tills/till-1/movements", PAY_OUT), 403,
                          "manager-approval-required")
    assert "a manager token must make it" in body["detail"]
    assert_problem(post(c, "/v1/tills/till-1/no-sale", {"reason": "change"}), 403,
                   "manager-approval-required")
    assert head_seq(live) == seq

