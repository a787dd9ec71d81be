"""Split tender and refunds on a real store database (hypothesis stateful).

Random sequences of: open carts, scan, take cash / voucher / "other" tenders (some refused),
remove tenders, complete, refund whole orders or lines, issue vouchers — each through the real
commands and the one writer on a real SQLite file, with cash rounding to 0.05. After every
step: each completed order kept exactly its total plus its cash rounding, never less than
nothing after refunds; no tender is refunded beyond what it kept; voucher balances equal their
ledger and are never negative. At the end of each run, the projections rebuilt from the log
equal the live ones (what `novapos-edge verify` checks)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from core.clock import ManualClock
from core.errors import DomainError
from edge import config as config_mod
from edge import demo
from edge.carts import commands as carts
from edge.carts.model import load
from edge.carts.views import view as cart_view
from edge.lanes import Principal
from edge.orders import commands as orders
from edge.orders import refunds
from edge.payments import rows as payment_rows
from edge.payments.machine import PAID_STATES
from edge.tender import commands
from edge.tender import commands as tender
from schemas import api
from tests.support.live_app import START_MS
from tests.support.store import TestStore, verify

CASHIER = Principal("demo-tenant", "store-001", "lane-1", "cashier", "t")
MANAGER = Principal("demo-tenant", "store-001", "manager-1", "manager", "t")
SKUS = ["MILK-1L", "BREAD-500G", "COFFEE-250G", "TSHIRT-BLK-M"]
INCREMENT = 5


class SplitTender(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory(prefix="novapos-tender-")
        data = Path(self._dir.name)
        cfg = config_mod.load(data, {"NOVAPOS_TENDER__CASH_ROUNDING_MINOR": str(INCREMENT),
                                     "NOVAPOS_TENDER__REFUND_MANAGER_ABOVE_MINOR": "1000"})
        self.svc = TestStore(data, cfg, ManualClock(START_MS))
        self.svc.start()
        demo.seed(self.svc)
        self.open: list[str] = []
        self.orders: list[str] = []
        self.vouchers: list[str] = []
        self.refused = 0

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
            self.refused += 1  # refused commands change nothing; the rebuild must agree
            return None

    @rule()
    def open_cart(self) -> None:
        cart = self.run(lambda tx: carts.open_cart(tx, CASHIER, self.svc.policy))
        self.open.append(cart.cart_id)

    @precondition(lambda self: self.open)
    @rule(data=st.data(), sku=st.sampled_from(SKUS), qty=st.integers(1, 3))
    def scan(self, data, sku: str, qty: int) -> None:
        cart_id = data.draw(st.sampled_from(self.open))
        self.run(lambda tx: carts.add_line(tx, CASHIER, self.svc.policy, cart_id,
                                           api.AddLine(sku=sku, qty=qty)))

    @rule(amount=st.integers(1, 3000))
    def issue_voucher(self, amount: int) -> None:
        code = self.run(lambda tx: commands.issue_voucher(
            tx, MANAGER, "EUR", api.IssueVoucher(amount_minor=amount)))
        self.vouchers.append(code)

    @precondition(lambda self: self.open)
    @rule(data=st.data(), kind=st.sampled_from(["cash", "voucher", "other"]),
          amount=st.integers(1, 4000), exact=st.booleans())
    def tender(self, data, kind: str, amount: int, exact: bool) -> None:
        cart_id = data.draw(st.sampled_from(self.open))
        if exact:  # often pay exactly what is due, so carts complete
            cart = load(self.svc.reader, cart_id)
            view = cart_view(self.svc.reader, cart, self.svc.policy, START_MS)
            amount = max(view.amount_due_minor, 1)
        code = data.draw(st.sampled_from(self.vouchers)) if kind == "voucher" and self.vouchers \
            else ("NOSUCHCODE" if kind == "voucher" else None)
        req = api.AddTender(tender_type=kind, amount_minor=amount, voucher_code=code,
                            reference="CHQ-1" if kind == "other" else None)
        self.run(lambda tx: tender.add_tender(tx, CASHIER, cart_id, req, self.svc.policy))

    @precondition(lambda self: self.open)
    @rule(data=st.data(), tender_id=st.integers(1, 6))
    def remove_tender(self, data, tender_id: int) -> None:
        cart_id = data.draw(st.sampled_from(self.open))
        self.run(lambda tx: commands.remove_local(tx, CASHIER, cart_id, tender_id))

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def complete(self, data) -> None:
        cart_id = data.draw(st.sampled_from(self.open))
        order_id = self.run(lambda tx: orders.complete(tx, CASHIER, self.svc.policy, cart_id))
        if order_id is not None:
            event("sale completed")
            self.open.remove(cart_id)
            self.orders.append(order_id)

    @rule(skus=st.lists(st.sampled_from(SKUS), min_size=1, max_size=3),
          kinds=st.lists(st.sampled_from(["cash", "voucher", "other"]), min_size=1, max_size=3),
          extra_cash=st.integers(0, 700))
    def whole_sale(self, skus: list[str], kinds: list[str], extra_cash: int) -> None:
        """A sale split over several tenders (the due split evenly, cash may add change)."""
        def sale(tx):
            cart = carts.open_cart(tx, CASHIER, self.svc.policy)
            for sku in skus:
                cart = carts.add_line(tx, CASHIER, self.svc.policy, cart.cart_id,
                                      api.AddLine(sku=sku))
            total = cart.totals(self.svc.policy.tax_mode).total_minor
            for i, kind in enumerate(kinds):
                view = cart_view(tx.conn, load(tx.conn, cart.cart_id), self.svc.policy,
                                  tx.now_ms)
                due = view.amount_due_minor if i == len(kinds) - 1 else total // len(kinds)
                if due <= 0:
                    break
                code = None
                if kind == "voucher":
                    code = commands.issue_voucher(tx, MANAGER, "EUR",
                                                  api.IssueVoucher(amount_minor=due + 50))
                    self.vouchers.append(code)
                amount = due + (extra_cash if kind == "cash" else 0)
                tender.add_tender(tx, CASHIER, cart.cart_id, api.AddTender(
                    tender_type=kind, amount_minor=amount, voucher_code=code,
                    reference="SLIP-9" if kind == "other" else None), self.svc.policy)
            return orders.complete(tx, CASHIER, self.svc.policy, cart.cart_id)

        order_id = self.run(sale)
        if order_id is not None:
            event("split sale completed")
            self.orders.append(order_id)

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def void_cart(self, data) -> None:
        cart_id = data.draw(st.sampled_from(self.open))
        if self.run(lambda tx: tender.void_cart(tx, CASHIER, cart_id, api.VoidCart())) is not None:
            self.open.remove(cart_id)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), whole=st.booleans(), line_no=st.integers(1, 4),
          qty=st.integers(1, 3), manager=st.booleans())
    def refund(self, data, whole: bool, line_no: int, qty: int, manager: bool) -> None:
        order_id = data.draw(st.sampled_from(self.orders))
        req = api.RefundOrder(lines=None if whole else [
            api.RefundLineRequest(line_no=line_no, qty=qty)])
        who = MANAGER if manager else CASHIER
        plan = self.run(lambda tx: refunds.begin(tx, who, self.svc.policy, order_id, req))
        assert plan is None or plan.card_work == []  # no card tenders in this machine
        event("refund made" if plan is not None else "refund refused")

    @invariant()
    def orders_are_paid_exactly(self) -> None:
        conn = self.svc.reader
        for order_id in self.orders:
            total, tendered, change = conn.execute(
                "SELECT total_minor, tendered_minor, change_due_minor FROM orders "
                "WHERE order_id = ?", (order_id,)).fetchall()[0]
            pays = payment_rows.of_order(conn, order_id)
            assert pays and all(p.state in PAID_STATES for p in pays)
            captured = sum(p.captured_minor for p in pays)
            refunded = sum(p.refunded_minor for p in pays)
            assert captured == tendered
            assert sum(p.change_minor for p in pays) == change
            rounding = captured - change - total
            has_cash = any(p.tender_type == "cash" for p in pays)
            assert abs(rounding) <= INCREMENT // 2 if has_cash else rounding == 0
            # Net paid = Σ captured − change − Σ refunded, never below nothing.
            assert captured - change - refunded >= 0
            noncash = sum(p.captured_minor for p in pays if p.tender_type != "cash")
            assert noncash <= total  # only cash over-tenders
            for p in pays:
                assert 0 <= p.refunded_minor <= p.captured_minor - p.change_minor

    @invariant()
    def refunds_are_covered_by_their_tenders(self) -> None:
        conn = self.svc.reader
        for refund_id, amount in conn.execute("SELECT refund_id, amount_minor FROM refunds"):
            parts = conn.execute("SELECT COALESCE(SUM(amount_minor), 0) FROM refund_allocations "
                                 "WHERE refund_id = ? AND state = 'refunded'",
                                 (refund_id,)).fetchall()[0][0]
            assert parts == amount

    @invariant()
    def voucher_ledger_balances(self) -> None:
        conn = self.svc.reader
        for code, issued, balance in conn.execute(
                "SELECT code, issued_minor, balance_minor FROM vouchers"):
            redeemed = sum(p.captured_minor for p in _voucher_payments(conn, code)
                           if p.state in PAID_STATES)
            refunded = sum(p.refunded_minor for p in _voucher_payments(conn, code))
            assert balance >= 0
            assert balance == issued - redeemed + refunded


def _voucher_payments(conn, code: str):
    return [payment_rows.from_row(r) for r in conn.execute(
        f"SELECT {payment_rows.COLUMNS} FROM payments WHERE voucher_code = ?", (code,))]


SplitTender.TestCase.settings = settings(
    max_examples=20, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestSplitTender = SplitTender.TestCase
