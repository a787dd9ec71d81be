"""Acceptance (issue 12): a return outside the window approved remotely over the stream,
through the real daemon (`novapos-edge serve --demo`, a subprocess on loopback, its clock
moved forward by the test: `tests.support.clocked_serve`).

- a lane sells; 31 days pass; the lane asks to return the sale: 403 `approval-required`
  (`return_outside_window`), nothing returned;
- the request appears on the manager's approvals stream (SSE, a manager token, a real HTTP
  client), the manager's phone signs an Ed25519 approval statement and another client posts it;
  the lane reads its token and sends the same request (same Idempotency-Key) again: the return
  is made, the money goes back, the token is spent;
- another such return is denied from the phone: the lane gets no token and stays refused, the
  line stays returnable;
- the audit trail names the approver, the device's reasons and the return the approval was
  used for, and the log verifies (`novapos-edge verify`).
"""

from __future__ import annotations

import subprocess
import sys

import msgspec
import pytest

from core import bodycodec
from edge.store.db import DB_FILENAME, open_connection, register_dictionaries
from tests.conftest import new_key
from tests.edge.approvals.helpers import admin, enroll, enroll_device, signed
from tests.edge.devices.helpers import SseReader, wait_for
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.slow
DAY_MS = 86_400_000
ENV = {"NOVAPOS_DEVICES__USB": "false", "NOVAPOS_DEVICES__HID": "false",
       "NOVAPOS_DEVICES__MDNS": "false"}


def _post(c, path, body, key=None, token=None):
    headers = {"Idempotency-Key": key or new_key()}
    if token:
        headers["X-Approval-Token"] = token
    return c.post(path, json=body, headers=headers)


def _type(r) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return r.json()["type"].rsplit("/", 1)[1]


def _cash_sale(c, sku: str) -> dict:
    cart = _post(c, "/v1/carts", {}).json()["cart_id"]
    assert _post(c, f"/v1/carts/{cart}/lines", {"sku": sku}).status_code == 201
    assert _post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash",
                                                  "amount_minor": 5000}).status_code == 201
    r = _post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _return_body(order: dict) -> dict:
    return {"receipt_number": order["receipt_number"],
            "lines": [{"line_no": 1, "qty": 1, "reason": "changed_mind"}]}


def _returnable(c, order: dict) -> int:
    [found] = c.get("/v1/returns/orders",
                    params={"receipt_number": order["receipt_number"]}).json()
    return found["lines"][0]["returnable_qty_milli"]


def _events(data_dir) -> dict[int, tuple[str, dict]]:
    conn = open_connection(data_dir / DB_FILENAME, readonly=True)
    try:
        register_dictionaries(conn)
        return {seq: (kind, msgspec.json.decode(bodycodec.decode(body))) for seq, kind, body in
                conn.execute("SELECT seq, type, body FROM events ORDER BY seq")}
    finally:
        conn.close()


def test_a_return_outside_the_window_approved_remotely_over_the_stream(tmp_path) -> None:
    daemon = DaemonProcess(tmp_path / "store", extra_env=ENV,
                           clock_file=tmp_path / "clock-offset-ms").start()
    try:
        with admin(daemon.url, daemon.data_dir) as a:
            enroll(a, "anna")
            phone_key = enroll_device(a, "anna", "anna-phone")
        with daemon.client("lane-1") as lane, daemon.client("manager-1") as manager:
            approved_sale = _cash_sale(lane, "COFFEE-250G")
            denied_sale = _cash_sale(lane, "BREAD-500G")
            daemon.advance_clock(31 * DAY_MS)  # past the 30-day return window

            phone = SseReader(f"{daemon.url}/v1/approvals/stream",
                              {"Authorization": f"Bearer {daemon.tokens['manager-1']}"}).start()
            wait_for(lambda: phone.status == 200, "the manager's stream to open")

            def decide(seen: dict, decision: str, reason: str) -> None:
                body = signed(phone_key, approval=seen, decision=decision, approver_id="anna",
                              device_id="anna-phone", signed_at_ms=daemon.now_ms(),
                              reason=reason)
                r = _post(manager, f"/v1/approvals/{seen['approval_id']}/decision", body)
                assert r.status_code == 200, r.text

            # --- asked at the lane, approved from the manager's phone ---------------------
            asked = _post(lane, "/v1/returns", _return_body(approved_sale), key="return-1")
            assert (asked.status_code, _type(asked)) == (403, "approval-required"), asked.text
            need = asked.json()["approval"]
            assert need["action"] == "return_outside_window"
            assert need["subject"] == f"order:{approved_sale['order_id']}"
            assert _returnable(lane, approved_sale) == 1000  # nothing returned yet
            # `approval.pending` if the stream subscribed only after the request (its headers
            # come first), `approval.requested` if before: the same approval either way.
            seen = phone.next(("approval.requested", "approval.pending"),
                              where=lambda d: d["approval_id"] == need["approval_id"])
            assert seen["lane_id"] == "lane-1" and seen["action"] == "return_outside_window"
            assert "outside the 30-day return window" in seen["detail"]
            decide(seen, "approve", "receipt from the old system")
            assert phone.next("approval.granted")["approval_id"] == need["approval_id"]
            token = lane.get(f"/v1/approvals/{need['approval_id']}").json()["token"]
            made = _post(lane, "/v1/returns", _return_body(approved_sale), key="return-1",
                         token=token)
            assert made.status_code == 201, made.text
            ret = made.json()
            assert "outside_window" in ret["flags"]
            assert [(a["tender_type"], a["state"]) for a in ret["refund"]["allocations"]] == [
                ("cash", "refunded")]
            used = phone.next("approval.used",
                              where=lambda d: d["approval_id"] == need["approval_id"])
            assert used["state"] == "used"
            assert _returnable(lane, approved_sale) == 0
            # Spent: the token makes no second return (nor is anything left to return).
            again = _post(lane, "/v1/returns", _return_body(approved_sale), token=token)
            assert again.status_code == 409, again.text
            assert _returnable(lane, approved_sale) == 0

            # --- asked, denied from the phone: stays refused ------------------------------
            asked = _post(lane, "/v1/returns", _return_body(denied_sale), key="return-2")
            assert (asked.status_code, _type(asked)) == (403, "approval-required"), asked.text
            denied_id = asked.json()["approval"]["approval_id"]
            seen = phone.next("approval.requested", where=lambda d: d["approval_id"] == denied_id)
            decide(seen, "deny", "no receipt shown")
            assert phone.next("approval.denied")["approval_id"] == denied_id
            view = lane.get(f"/v1/approvals/{denied_id}").json()
            assert view["state"] == "denied" and view.get("token") is None
            retry = _post(lane, "/v1/returns", _return_body(denied_sale), key="return-2")
            assert (retry.status_code, _type(retry)) == (403, "approval-required")
            assert retry.json()["approval"]["approval_id"] != denied_id  # asked anew
            assert _returnable(lane, denied_sale) == 1000
            # A denied approval's id cannot be turned into a token by a guess either.
            forged = _post(lane, "/v1/returns", _return_body(denied_sale), key="return-2",
                           token=f"apv1.{denied_id}.AAAA")
            assert (forged.status_code, _type(forged)) == (403, "approval-denied")

            # --- the audit trail ---------------------------------------------------------
            trail = manager.get("/v1/audit", params={"actor": "anna"}).json()["entries"]
            assert [(e["type"], e["approval_id"], e.get("reason")) for e in trail] == [
                ("approval.granted", need["approval_id"], "receipt from the old system"),
                ("approval.used", need["approval_id"], None),
                ("approval.denied", denied_id, "no receipt shown")]
            assert {e["lane_id"] for e in trail if e["type"] != "approval.used"} == {"manager-1"}
            assert trail[1]["lane_id"] == "lane-1" and trail[1]["amount_minor"] == 499
            asked_by_lane = manager.get("/v1/audit", params={"actor": "lane-1"}).json()["entries"]
            assert {need["approval_id"], denied_id} <= {
                e.get("approval_id") for e in asked_by_lane if e["type"] == "approval.requested"}
            phone.stop()
    finally:
        daemon.stop()
    events = _events(daemon.data_dir)
    [used_body] = [b for kind, b in events.values() if kind == "approval.used"]
    action_kind, action = events[used_body["action_seq"]]
    created = [b for kind, b in events.values() if kind == "return.completed"]
    assert [c["return_id"] for c in created] == [ret["return_id"]]
    assert action_kind == "order.refund_created" and action["refund_id"] == created[0]["refund_id"]
    out = subprocess.run([sys.executable, "-m", "edge.cli", "verify", "--data-dir",
                          str(daemon.data_dir)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
