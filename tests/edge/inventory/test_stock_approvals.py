"""A blind count (or an adjustment) whose variance is above [inventory] manager_above_milli
needs a manager's approval through the approvals domain, over loopback HTTP: the counter is
refused 403 `approval-required` (told neither the expected quantity nor the variance), a
manager approves by PIN, the same request with the token is recorded as approved by a
manager, and the approval is bound to exactly the counted quantities."""

from __future__ import annotations

import msgspec
import pytest

from core import bodycodec
from tests.edge.api.helpers import assert_problem, head_seq, post
from tests.edge.approvals.helpers import PIN, admin, enroll
from tests.support.live_app import LiveApp

COUNT = {"section": "aisle-3", "lines": [{"sku": "COFFEE-250G", "counted_milli": 9000}]}


@pytest.fixture
def store(live: LiveApp) -> LiveApp:
    with admin(live.url, live.service.data_dir) as a:
        enroll(a)
    return live


def _events(live: LiveApp, kind: str) -> list[tuple[int, dict]]:
    return [(seq, msgspec.json.decode(bodycodec.decode(body)))
            for seq, body in live.service.reader.execute(
                "SELECT seq, body FROM events WHERE type = ? ORDER BY seq", (kind,)).fetchall()]


def _token(c, need: dict) -> str:
    r = post(c, f"/v1/approvals/{need['approval_id']}/pin", {"approver_id": "anna", "pin": PIN})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_a_count_variance_is_approved_through_the_approvals_domain(store) -> None:
    c = store.client("lane-1")
    seq = head_seq(store)
    r = post(c, "/v1/stock/counts", COUNT, key="count-1")
    need = assert_problem(r, 403, "approval-required")["approval"]
    assert need["action"] == "stock_count_variance" and need["lines"] == 1
    assert need["subject"].startswith("count:aisle-3/")
    # Blind: nothing in the refusal says what the books expected or how far off the count is.
    detail = r.json()["detail"]
    assert "above 5 units" in detail and "9 units" not in detail and "9000" not in r.text
    assert "expected" not in r.text.lower()
    assert head_seq(store) == seq + 1  # the request, nothing else
    assert c.get("/v1/stock", params={"sku": "COFFEE-250G"}).json()["on_hand_milli"] == 0

    token = _token(c, need)
    other = {"section": "aisle-3", "lines": [{"sku": "COFFEE-250G", "counted_milli": 8000}]}
    assert_problem(post(c, "/v1/stock/counts", other, headers={"X-Approval-Token": token}),
                   403, "approval-token-mismatch")
    r = post(c, "/v1/stock/counts", COUNT, key="count-1", headers={"X-Approval-Token": token})
    assert r.status_code == 201, r.text
    assert r.json()["approved_by_role"] == "manager"
    assert r.json()["lines"][0]["variance_milli"] == 9000
    [(counted_seq, _)] = _events(store, "stock.counted")
    [(_, used)] = _events(store, "approval.used")
    assert used["action_seq"] == counted_seq and used["action"] == "stock_count_variance"
    assert c.get("/v1/stock", params={"sku": "COFFEE-250G"}).json()["on_hand_milli"] == 9000


def test_a_big_adjustment_asks_a_small_one_does_not(store) -> None:
    c = store.client("lane-1")
    small = post(c, "/v1/stock/adjustments", {"sku": "MILK-1L", "delta_milli": -1000,
                                              "reason": "damage"})
    assert small.status_code == 201 and small.json()["approved_by_role"] == "cashier"
    big = {"sku": "MILK-1L", "delta_milli": -20_000, "reason": "theft"}
    need = assert_problem(post(c, "/v1/stock/adjustments", big, key="adj"), 403,
                          "approval-required")["approval"]
    assert need["action"] == "stock_adjustment"
    assert need["subject"] == "stock:MILK-1L/adjust:-20000/theft"
    r = post(c, "/v1/stock/adjustments", big, key="adj",
             headers={"X-Approval-Token": _token(c, need)})
    assert r.status_code == 201, r.text
    assert r.json()["approved_by_role"] == "manager"
    assert r.json()["stock"]["on_hand_milli"] == -21_000


def test_a_managers_count_is_an_audited_override(store) -> None:
    r = post(store.client("manager-1"), "/v1/stock/counts", COUNT)
    assert r.status_code == 201 and r.json()["approved_by_role"] == "manager"
    [(counted_seq, _)] = _events(store, "stock.counted")
    [(_, override)] = _events(store, "approval.overridden")
    assert override["action"] == "stock_count_variance"
    assert override["action_seq"] == counted_seq and override["approver_id"] == "manager-1"
