"""Acceptance: manager approvals through the real daemon (`novapos-edge serve --demo`, a
subprocess on loopback), as a lane and a manager's phone would use them.

- a cashier's discount over the limit is refused (403 approval-required), approved with a
  manager's PIN at the lane, and the same request (same Idempotency-Key) goes through with
  the token;
- five wrong PINs lock the approver out, even the right PIN then;
- a manager's device follows the approvals stream (SSE), sees the request, signs an
  Ed25519 statement; the daemon verifies it offline and the lane's retry goes through;
- a token is refused when reused, when for another amount, and once expired;
- the audit trail names the approvers, and the daemon restarts with it intact (verify).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import new_key
from tests.edge.approvals.helpers import PIN, admin, enroll, enroll_device, signed
from tests.edge.devices.helpers import SseReader, wait_for
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.slow
TOKEN_TTL_S = 5
ASKED = ("approval.requested", "approval.pending")  # the phone sees a request as either
HALF_OFF = {"line_id": 1, "kind": "percent", "value": 5000, "reason": "scratched"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> DaemonProcess:
    d = DaemonProcess(tmp_path_factory.mktemp("approvals") / "store",
                      extra_env={"NOVAPOS_APPROVALS__TOKEN_TTL_S": str(TOKEN_TTL_S),
                                 "NOVAPOS_DEVICES__USB": "false",
                                 "NOVAPOS_DEVICES__HID": "false",
                                 "NOVAPOS_DEVICES__MDNS": "false"}).start()
    try:
        with admin(d.url, d.data_dir) as a:
            enroll(a, "anna")
            enroll(a, "bob", "13579")
        yield d
    finally:
        d.stop()


def _post(c, path, body, key=None, token=None):
    headers = {"Idempotency-Key": key or new_key()}
    if token:
        headers["X-Approval-Token"] = token
    return c.post(path, json=body, headers=headers)


def _cart(c) -> str:
    cart = _post(c, "/v1/carts", {}).json()["cart_id"]
    assert _post(c, f"/v1/carts/{cart}/lines", {"sku": "TSHIRT-BLK-M"}).status_code == 201
    return cart


def _type(r) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return r.json()["type"].rsplit("/", 1)[1]


def _ask(c, cart, body=HALF_OFF, key="k") -> dict:
    r = _post(c, f"/v1/carts/{cart}/discounts", body, key=key)
    assert r.status_code == 403 and _type(r) == "approval-required", r.text
    return r.json()["approval"]


def test_a_discount_over_the_limit_approved_by_pin_then_the_token_is_spent(daemon) -> None:
    with daemon.client("lane-1") as c:
        cart = _cart(c)
        need = _ask(c, cart, key="disc-pin")
        assert (need["action"], need["amount_minor"]) == ("line_discount", 750)
        r = _post(c, f"/v1/approvals/{need['approval_id']}/pin",
                  {"approver_id": "anna", "pin": PIN})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        ok = _post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-pin", token=token)
        assert ok.status_code == 200 and ok.json()["lines"][0]["discount_minor"] == 750
        # Reused on another request, and for another amount: refused.
        reused = _post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, token=token)
        assert (reused.status_code, _type(reused)) == (403, "approval-token-used")
        need2 = _ask(c, cart, {**HALF_OFF, "value": 4000}, key="disc-other")
        token2 = _post(c, f"/v1/approvals/{need2['approval_id']}/pin",
                       {"approver_id": "bob", "pin": "13579"}).json()["token"]
        other = _post(c, f"/v1/carts/{cart}/discounts", {**HALF_OFF, "value": 6000},
                      key="disc-other-amount", token=token2)
        assert (other.status_code, _type(other)) == (403, "approval-token-mismatch")
        # Still good for what it approved.
        assert _post(c, f"/v1/carts/{cart}/discounts", {**HALF_OFF, "value": 4000},
                     key="disc-other", token=token2).status_code == 200


def test_five_wrong_pins_lock_the_approver_out(daemon) -> None:
    with daemon.client("lane-2") as c:
        cart = _cart(c)
        need = _ask(c, cart, key="disc-lock")
        kinds = [_type(_post(c, f"/v1/approvals/{need['approval_id']}/pin",
                             {"approver_id": "bob", "pin": "0000"})) for _ in range(5)]
        assert kinds == ["approval-pin-wrong"] * 4 + ["approval-pin-locked"]
        right = _post(c, f"/v1/approvals/{need['approval_id']}/pin",
                      {"approver_id": "bob", "pin": "13579"})
        assert (right.status_code, _type(right)) == (403, "approval-pin-locked")
        assert int(right.headers["Retry-After"]) > 0
        # Another approver is not locked.
        assert _post(c, f"/v1/approvals/{need['approval_id']}/pin",
                     {"approver_id": "anna", "pin": PIN}).status_code == 200


def test_remote_approval_over_the_stream_with_a_signed_statement(daemon) -> None:
    with admin(daemon.url, daemon.data_dir) as a:
        key = enroll_device(a, "anna", "anna-phone")
    phone = SseReader(f"{daemon.url}/v1/approvals/stream",
                      {"Authorization": f"Bearer {daemon.tokens['manager-1']}"}).start()
    with daemon.client("lane-1") as c, daemon.client("manager-1") as manager:
        cart = _cart(c)
        need = _ask(c, cart, key="disc-remote")
        # `approval.pending` if the phone's stream was subscribed only after the request (the
        # stream starts with what is pending then), `approval.requested` if before.
        seen = phone.next(ASKED, where=lambda d: d["approval_id"] == need["approval_id"])
        assert seen["amount_minor"] == 750 and seen["lane_id"] == "lane-1"
        body = signed(key, approval=seen, decision="approve", approver_id="anna",
                      device_id="anna-phone", signed_at_ms=time.time_ns() // 1_000_000,
                      reason="regular customer")
        r = _post(manager, f"/v1/approvals/{need['approval_id']}/decision", body)
        assert r.status_code == 200, r.text
        assert phone.next("approval.granted")["approval_id"] == need["approval_id"]
        token = c.get(f"/v1/approvals/{need['approval_id']}").json()["token"]
        ok = _post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-remote", token=token)
        assert ok.status_code == 200, ok.text
        trail = manager.get("/v1/audit", params={"actor": "anna"}).json()["entries"]
        assert ("approval.granted", "regular customer") in [(e["type"], e.get("reason"))
                                                            for e in trail]


def test_an_expired_token_is_refused(daemon) -> None:
    with daemon.client("lane-2") as c:
        cart = _cart(c)
        need = _ask(c, cart, key="disc-expire")
        token = _post(c, f"/v1/approvals/{need['approval_id']}/pin",
                      {"approver_id": "anna", "pin": PIN}).json()["token"]
        time.sleep(TOKEN_TTL_S + 0.5)  # the daemon's own clock: a real wait, not a race
        r = _post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-expire", token=token)
        assert (r.status_code, _type(r)) == (403, "approval-token-expired")


def test_the_trail_survives_a_restart_and_verifies(daemon) -> None:
    # Its own trail first (xdist may run this module's tests on different workers, each with
    # its own daemon): a refused PIN, a grant and the token spent.
    with daemon.client("lane-1") as c:
        cart = _cart(c)
        need = _ask(c, cart, key="disc-trail")
        assert _post(c, f"/v1/approvals/{need['approval_id']}/pin",
                     {"approver_id": "anna", "pin": "0000"}).status_code == 403
        token = _post(c, f"/v1/approvals/{need['approval_id']}/pin",
                      {"approver_id": "anna", "pin": PIN}).json()["token"]
        assert _post(c, f"/v1/carts/{cart}/discounts", HALF_OFF, key="disc-trail",
                     token=token).status_code == 200
    with daemon.client("manager-1") as manager:
        before = manager.get("/v1/audit").json()["entries"]
    assert {"approval.requested", "approval.granted", "approval.used",
            "approval.pin_refused"} <= {e["type"] for e in before}
    phone = SseReader(f"{daemon.url}/v1/approvals/stream",
                      {"Authorization": f"Bearer {daemon.tokens['manager-1']}"}).start()
    wait_for(lambda: phone.status == 200, "the stream to be open")
    daemon.stop()
    assert phone.next("end") == "shutdown"  # the stream is ended, not cut by the timeout
    out = subprocess.run([sys.executable, "-m", "edge.cli", "verify", "--data-dir",
                          str(daemon.data_dir)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    daemon.start()
    with daemon.client("manager-1") as manager:
        assert manager.get("/v1/audit").json()["entries"] == before
