"""Whatever a lane and its managers do, in any order (ask, wrong and right PINs, retries with
any token for any amount, time passing), a cashier's discount over the limit is applied only
by spending a granted, unexpired approval for exactly that discount, and no approval is ever
spent twice. Driven by hypothesis against the real store (writer, log, read models)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core import bodycodec
from core.clock import ManualClock
from core.errors import DomainError
from edge import config as config_mod
from edge import demo
from edge.approvals import commands, views
from edge.approvals.errors import ApprovalRequired
from edge.approvals.rules import ApprovalPolicy, legacy
from edge.carts import commands as carts
from edge.lanes import Principal
from schemas import api
from schemas.approvals import ApproveByPin
from tests.support.live_app import START_MS
from tests.support.store import TestStore

CASHIER = Principal("demo-tenant", "store-001", "lane-1", "cashier", "tok-1")
PERCENTS = (1000, 3000, 5000, 6000)  # 10 % is within the 20 % limit, the others are not

ops = st.lists(st.one_of(
    st.tuples(st.just("ask"), st.sampled_from(PERCENTS)),
    st.tuples(st.just("pin"), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("use"), st.integers(0, 5), st.sampled_from(PERCENTS)),
    st.tuples(st.just("advance"), st.sampled_from([1, 30, 119, 121, 700])),
    # The lane's usual path, with a random amount on the retry.
    st.tuples(st.just("flow"), st.sampled_from(PERCENTS), st.sampled_from(PERCENTS)),
), min_size=1, max_size=30)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_only_a_granted_unspent_unexpired_matching_approval_lets_a_discount_through(program):
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(START_MS)
        s = TestStore(Path(tmp) / "s", config_mod.load(None, {}), clock)
        s.start()
        try:
            demo.seed(s)
            P = s.policy
            policy = ApprovalPolicy(legacy(P.manager_threshold_bp, P.refund_manager_above_minor),
                                    pin_max_failures=3)
            s.writer.run_sync(lambda tx: commands.enroll_approver(
                tx.conn, "anna", "Anna", "unused", tx.now_ms))
            cart_id = s.writer.run_sync(lambda tx: carts.open_cart(tx, CASHIER, P)).cart_id
            s.writer.run_sync(lambda tx: carts.add_line(tx, CASHIER, P, cart_id,
                                                        api.AddLine(sku="TSHIRT-BLK-M")))
            asked: list[str] = []

            def discount(pct: int, token: str | None):
                req = api.ApplyDiscount("percent", pct, line_id=1)
                try:
                    s.writer.run_sync(lambda tx: carts.apply_discount(
                        tx, CASHIER, P, cart_id, req, policy, token))
                except ApprovalRequired as need:
                    s.writer.run_sync(lambda tx: commands.record_request(tx, need))
                    asked.append(need.approval.approval_id)
                except DomainError:
                    pass

            for op in program:
                if op[0] == "ask":
                    discount(op[1], None)
                elif op[0] == "pin" and asked:
                    approval_id = asked[op[1] % len(asked)]
                    try:
                        s.writer.run_sync(lambda tx: commands.decide_by_pin(
                            tx, CASHIER, policy, approval_id,
                            ApproveByPin(approver_id="anna", pin="0000"), op[2]))
                    except DomainError:
                        pass
                elif op[0] == "use" and asked:
                    approval_id = asked[op[1] % len(asked)]
                    shown = views.one(s.reader, approval_id, s.identity, clock.now_ms(), CASHIER)
                    discount(op[2], shown.token or f"apv1.{approval_id}.x")
                elif op[0] == "flow":
                    discount(op[1], None)
                    if asked:
                        approval_id = asked[-1]
                        try:
                            s.writer.run_sync(lambda tx: commands.decide_by_pin(
                                tx, CASHIER, policy, approval_id,
                                ApproveByPin(approver_id="anna", pin="0000"), True))
                        except DomainError:
                            pass
                        shown = views.one(s.reader, approval_id, s.identity, clock.now_ms(),
                                          CASHIER)
                        discount(op[2], shown.token)
                elif op[0] == "advance":
                    clock.advance(op[1] * 1000)
            _check(s)
        finally:
            s.stop()


def _check(s: TestStore) -> None:
    log = [(seq, t, at, msgspec.json.decode(bodycodec.decode(body)))
           for seq, t, at, body in s.reader.execute(
        "SELECT seq, type, recorded_at_ms, body FROM events ORDER BY seq").fetchall()]
    granted = {b["approval_id"]: b for _, t, _, b in log if t == "approval.granted"}
    requested = {b["approval_id"]: b for _, t, _, b in log if t == "approval.requested"}
    spent = [b["approval_id"] for _, t, _, b in log if t == "approval.used"]
    event(f"approvals spent: {min(len(spent), 2)}{'+' if len(spent) >= 2 else ''}")
    assert len(spent) == len(set(spent)), "an approval was spent twice"
    for i, (seq, t, at, b) in enumerate(log):
        if t != "cart.discount_applied":
            continue
        off = (1499 * b["value"] + 5_000) // 10_000
        if b["value"] <= 2000:
            continue  # within the cashier limit: nothing to approve
        prev_seq, prev_type, _, used = log[i - 1]
        assert prev_type == "approval.used" and used["action_seq"] == seq
        approval = used["approval_id"]
        assert approval in granted, "spent without a grant"
        assert at < granted[approval]["token_expires_at_ms"], "spent after it expired"
        assert requested[approval]["fingerprint"] == used["fingerprint"]
        assert used["fingerprint"].endswith(f"|{off}"), "spent on another amount"
