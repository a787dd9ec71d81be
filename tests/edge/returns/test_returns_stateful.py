"""Sales, refunds, returns and exchanges from several lanes on a real store database (hypothesis
stateful, through the real commands and the one writer).

After every step: no line of any order has more taken back (refunds and returns together)
than it sold, so nothing is ever returnable below zero; no tender got back more than it kept,
and per tender type the money out never exceeds the money kept; the store credit issued by
returns equals what those returns say they gave (for an exchange: what its new sale did not
take). At the end the projections rebuilt from the
log equal the live ones."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule)

import msgspec

from core.clock import ManualClock
from core.errors import DomainError
from edge import compose, demo
from edge import config as config_mod
from edge.carts import commands as carts
from edge.lanes import Principal
from edge.orders import commands as orders
from edge.orders import refunds
from edge.payments import rows as payment_rows
from edge.returns import commands as returns
from edge.returns import exchanges
from edge.returns.settings import RestockingFee, ReturnsConfig
from edge.tender import commands as tender
from schemas import api
from schemas import returns as rt
from tests.support.live_app import START_MS
from tests.support.store import TestStore, verify

LANES = [Principal("demo-tenant", "store-001", "lane-1", "cashier", "t"),
         Principal("demo-tenant", "store-001", "lane-2", "cashier", "t"),
         Principal("demo-tenant", "store-001", "manager-1", "manager", "t")]
SKUS = ["MILK-1L", "BREAD-500G", "COFFEE-250G", "TSHIRT-BLK-M"]
_KEYS = itertools.count(1)


class Returns(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory(prefix="novapos-returns-")
        data = Path(self._dir.name)
        cfg = config_mod.load(data, {"NOVAPOS_TENDER__CASH_ROUNDING_MINOR": "5"})
        # A restocking fee on one product, so fees take part in the arithmetic.
        cfg = msgspec.structs.replace(cfg, returns=ReturnsConfig(restocking_fees=(
            RestockingFee(sku="COFFEE-250G", percent_bp=1500, cap_minor=100),)))
        self.svc = TestStore(data, cfg, ManualClock(START_MS))
        self.svc.start()
        demo.seed(self.svc)
        self.rp = compose.returns_policy_of(data, cfg)
        self.orders: list[str] = []

    def teardown(self) -> None:
        try:
            report = verify(self.svc.db_path)
            assert report.ok, report
        finally:
            self.svc.stop()
            self._dir.cleanup()

    def run(self, fn):
        try:
            return self.svc.writer.run_sync(fn)
        except DomainError:
            return None

    @initialize()
    def first_sale(self) -> None:
        self.sale(["COFFEE-250G", "MILK-1L"], 2, ["cash", "voucher"], 0)

    @rule(skus=st.lists(st.sampled_from(SKUS), min_size=1, max_size=3),
          qty=st.integers(1, 3),
          kinds=st.lists(st.sampled_from(["cash", "voucher", "other"]), min_size=1, max_size=3),
          extra_cash=st.integers(0, 700))
    def sale(self, skus, qty, kinds, extra_cash) -> None:
        who = LANES[0]

        def sell(tx):
            cart = carts.open_cart(tx, who, self.svc.policy)
            for sku in skus:
                cart = carts.add_line(tx, who, self.svc.policy, cart.cart_id,
                                      api.AddLine(sku=sku, qty=qty))
            total = cart.totals(self.svc.policy.tax_mode).total_minor
            given = 0
            for i, kind in enumerate(kinds):
                due = total - given if i == len(kinds) - 1 else total // len(kinds)
                if due <= 0:
                    break
                code = None
                if kind == "voucher":
                    code = tender.issue_voucher(tx, LANES[2], "EUR",
                                                api.IssueVoucher(amount_minor=due))
                amount = due + (extra_cash if kind == "cash" else 0)
                tender.add_tender(tx, who, cart.cart_id, api.AddTender(
                    tender_type=kind, amount_minor=amount, voucher_code=code,
                    reference="SLIP-1" if kind == "other" else None), self.svc.policy)
                given += due
            return orders.complete(tx, who, self.svc.policy, cart.cart_id)

        order_id = self.run(sell)
        if order_id is not None:
            self.orders.append(order_id)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), lane=st.integers(0, 2), line_no=st.integers(1, 3),
          qty=st.integers(1, 4), to=st.sampled_from(["original_tenders", "store_credit"]),
          reason=st.sampled_from(["changed_mind", "defective"]))
    def give_back(self, data, lane, line_no, qty, to, reason) -> None:
        order_id = data.draw(st.sampled_from(self.orders))
        req = rt.ReturnRequest(order_id=order_id, refund_to=to, lines=[
            rt.ReturnLineRequest(line_no=line_no, qty=qty, reason=reason)])
        done = self.run(lambda tx: returns.begin_receipted(tx, LANES[lane], self.rp, req,
                                                           f"k:{next(_KEYS)}"))
        event("return made" if done is not None else "return refused")

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), lane=st.integers(0, 2), line_no=st.integers(1, 3),
          qty=st.integers(1, 3), sku=st.sampled_from(SKUS), cash=st.integers(0, 2000),
          to=st.sampled_from(["original_tenders", "store_credit"]))
    def exchange(self, data, lane, line_no, qty, sku, cash, to) -> None:
        order_id = data.draw(st.sampled_from(self.orders))
        who = LANES[lane]

        def swap(tx):
            cart = carts.open_cart(tx, who, self.svc.policy)
            carts.add_line(tx, who, self.svc.policy, cart.cart_id, api.AddLine(sku=sku, qty=1))
            if cash:
                tender.add_tender(tx, who, cart.cart_id, api.AddTender(
                    tender_type="cash", amount_minor=cash), self.svc.policy)
            return exchanges.exchange(tx, who, self.rp, self.svc.policy, rt.ExchangeRequest(
                cart_id=cart.cart_id, order_id=order_id, refund_to=to, lines=[
                    rt.ReturnLineRequest(line_no=line_no, qty=qty, reason="wrong_size")]),
                f"k:{next(_KEYS)}")

        done = self.run(swap)
        event("exchange made" if done is not None else "exchange refused")
        if done is not None:
            self.orders.append(done[1])  # the new sale can be returned in turn

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), line_no=st.integers(1, 3), qty=st.integers(1, 4))
    def plain_refund(self, data, line_no, qty) -> None:
        order_id = data.draw(st.sampled_from(self.orders))
        req = api.RefundOrder(lines=[api.RefundLineRequest(line_no=line_no, qty=qty)])
        self.run(lambda tx: refunds.begin(tx, LANES[2], self.svc.policy, order_id, req))

    @invariant()
    def nothing_is_taken_back_twice(self) -> None:
        for sold, taken in self.svc.reader.execute(
                "SELECT l.qty_milli, (SELECT COALESCE(SUM(qty_milli), 0) FROM refund_lines r "
                "WHERE r.order_id = l.order_id AND r.line_no = l.line_no) FROM order_lines l"):
            assert 0 <= taken <= sold

    @invariant()
    def money_out_never_exceeds_money_kept(self) -> None:
        conn = self.svc.reader
        for order_id in self.orders:
            pays = payment_rows.of_order(conn, order_id)
            by_kind: dict[str, list[int]] = {}
            for p in pays:
                assert 0 <= p.refunded_minor <= p.captured_minor - p.change_minor
                acc = by_kind.setdefault(p.tender_type, [0, 0])
                acc[0] += p.captured_minor - p.change_minor
                acc[1] += p.refunded_minor
            for kept, out in by_kind.values():
                assert out <= kept
            total = conn.execute("SELECT total_minor FROM orders WHERE order_id = ?",
                                 (order_id,)).fetchall()[0][0]
            returned = conn.execute(
                "SELECT COALESCE(SUM(paid_minor), 0) FROM return_lines WHERE order_id = ?",
                (order_id,)).fetchall()[0][0]
            assert returned <= total

    @invariant()
    def store_credit_equals_what_returns_gave(self) -> None:
        for amount, issued, exchange_order in self.svc.reader.execute(
                "SELECT r.amount_minor, v.issued_minor, r.exchange_order_id FROM returns r "
                "JOIN vouchers v ON v.code = r.store_credit_code"):
            assert amount == issued if exchange_order is None else 0 < issued <= amount

    @invariant()
    def an_exchange_settles_its_value_once(self) -> None:
        """The returned value = the credit the new sale took + what went back (tenders or
        store credit): never paid out twice."""
        conn = self.svc.reader
        for amount, refund_id, credit_code, sold in conn.execute(
                "SELECT amount_minor, refund_id, store_credit_code, exchange_order_id "
                "FROM returns WHERE exchange_order_id IS NOT NULL").fetchall():
            took = conn.execute(  # the exchange credit: the EX voucher the new sale redeemed
                "SELECT COALESCE(SUM(captured_minor), 0) FROM payments WHERE order_id = ? "
                "AND tender_type = 'voucher' AND voucher_code LIKE 'EX%'", (sold,)).fetchall()[0][0]
            back = conn.execute("SELECT amount_minor FROM refunds WHERE refund_id = ?",
                                (refund_id,)).fetchall()[0][0]
            credit = conn.execute("SELECT COALESCE(SUM(issued_minor), 0) FROM vouchers "
                                  "WHERE code = ?", (credit_code,)).fetchall()[0][0]
            assert took + back + credit == amount, (took, back, credit, amount)


Returns.TestCase.settings = settings(max_examples=12, stateful_step_count=25, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
TestReturns = Returns.TestCase
