"""Property: for any history of sales, rebuilding the read models from the log gives exactly
the live read models, and the chain verifies."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.clock import ManualClock
from core.errors import DomainError
from edge import config as config_mod
from edge import demo
from edge.carts import commands as carts
from edge.carts.model import load_for
from edge.catalog.service import import_document
from edge.lanes import Principal
from edge.orders import commands as orders
from edge.tender import commands as tender
from schemas import api
from schemas.catalog import CatalogDocument, PriceVersion
from tests.support.live_app import START_MS
from tests.support.store import TestStore, verify

LANES = [Principal("demo-tenant", "store-001", lane, role, "t")
         for lane, role in (("lane-1", "cashier"), ("lane-2", "cashier"), ("manager-1", "manager"))]
SKUS = ["MILK-1L", "BREAD-500G", "COFFEE-250G", "TSHIRT-BLK-M", "BANANA", "NOPE"]

op = st.one_of(
    st.tuples(st.just("open"), st.integers(0, 2)),
    st.tuples(st.just("add"), st.integers(0, 9), st.sampled_from(SKUS), st.integers(1, 5)),
    st.tuples(st.just("qty"), st.integers(0, 9), st.integers(1, 4), st.integers(1, 9)),
    st.tuples(st.just("remove"), st.integers(0, 9), st.integers(1, 4)),
    st.tuples(st.just("discount"), st.integers(0, 9), st.sampled_from([None, 1, 2]),
              st.sampled_from(["amount", "percent"]), st.integers(0, 3000), st.integers(0, 2)),
    st.tuples(st.just("tender"), st.integers(0, 9), st.integers(1, 5000)),
    st.tuples(st.just("complete"), st.integers(0, 9)),
    st.tuples(st.just("void"), st.integers(0, 9)),
    st.tuples(st.just("reprice"), st.integers(0, 9)),
    st.tuples(st.just("price"), st.sampled_from(SKUS[:5]), st.integers(1, 2000)),
    st.tuples(st.just("wait"), st.integers(1, 1_200_000)),
    st.tuples(st.just("pay"), st.integers(0, 9)),
)
sale = st.tuples(st.just("sale"), st.integers(0, 2), st.lists(st.sampled_from(SKUS[:4]), min_size=1, max_size=4))
# Whole sales are drawn as often as all single steps together, so most histories sell.
history = st.lists(st.one_of(op, sale), min_size=3, max_size=60)


def _run(svc: TestStore, clock: ManualClock, ops: list[tuple]) -> int:
    cart_ids: list[tuple[str, Principal]] = []
    versions: dict[str, int] = {}
    done = 0
    for o in ops:
        kind = o[0]
        if kind == "wait":
            clock.advance(o[1])
            continue
        if kind == "price":
            sku, amount = o[1], o[2]
            versions[sku] = versions.get(sku, 1) + 1
            doc = CatalogDocument(prices=(PriceVersion(
                sku=sku, version=versions[sku], amount_minor=amount,
                effective_at=datetime.fromtimestamp(clock.now_ms() / 1000, tz=UTC)),))
            svc.writer.run_sync(lambda tx, doc=doc: import_document(tx, doc, lane_id=None))
            continue
        if kind == "sale":  # a whole sale in a row, so histories hold many completed orders
            who = LANES[o[1]]

            def sale(tx, who=who, skus=o[2]):
                cart = carts.open_cart(tx, who, svc.policy)
                for sku in skus:
                    cart = carts.add_line(tx, who, svc.policy, cart.cart_id, api.AddLine(sku=sku))
                due = cart.totals(svc.policy.tax_mode).total_minor
                tender.add_tender(tx, who, cart.cart_id, api.AddTender("cash", due + 1))
                return orders.complete(tx, who, svc.policy, cart.cart_id)

            svc.writer.run_sync(sale)
            done += 1
            continue
        if kind == "open":
            who = LANES[o[1]]
            cart = svc.writer.run_sync(lambda tx, who=who: carts.open_cart(tx, who, svc.policy))
            cart_ids.append((cart.cart_id, who))
            continue
        if not cart_ids:
            continue
        cart_id, who = cart_ids[o[1] % len(cart_ids)]
        p = svc.policy
        fn = {
            "add": lambda tx: carts.add_line(tx, who, p, cart_id, api.AddLine(
                sku=o[2], qty=None if o[2] == "BANANA" else o[3],
                qty_milli=o[3] * 137 if o[2] == "BANANA" else None)),
            "qty": lambda tx: carts.change_qty(tx, who, cart_id, o[2], api.ChangeQty(qty=o[3])),
            "remove": lambda tx: carts.remove_line(tx, who, cart_id, o[2]),
            "discount": lambda tx: carts.apply_discount(tx, LANES[o[5]], p, cart_id, api.ApplyDiscount(
                kind=o[3], value=o[4], line_id=o[2])),
            "tender": lambda tx: tender.add_tender(tx, who, cart_id, api.AddTender("cash", o[2])),
            "pay": lambda tx: _pay_and_complete(tx, who, p, cart_id),
            "complete": lambda tx: orders.complete(tx, who, p, cart_id),
            "void": lambda tx: tender.void_cart(tx, who, cart_id, api.VoidCart()),
            "reprice": lambda tx: carts.reprice(tx, who, p, cart_id),
        }[kind]
        try:
            svc.writer.run_sync(fn)
            done += 1
        except DomainError:
            pass  # refused commands change nothing; the rebuild must agree
    return done


def _pay_and_complete(tx, who, policy, cart_id):
    cart = load_for(tx.conn, cart_id, who, must_be_open=True)
    due = cart.totals(policy.tax_mode).total_minor - cart.tendered_minor
    if due > 0:
        tender.add_tender(tx, who, cart_id, api.AddTender("cash", due))
    return orders.complete(tx, who, policy, cart_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history)
def test_rebuild_from_the_log_equals_live_state(ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(START_MS)
        svc = TestStore(Path(tmp) / "store", config_mod.load(None, {}), clock)
        svc.start()
        try:
            demo.seed(svc)
            _run(svc, clock, ops)
            sold = svc.reader.execute("SELECT count(*) FROM orders").fetchall()[0][0]
            event(f"orders: {min(sold, 5)}{'+' if sold >= 5 else ''}")
        finally:
            svc.stop()
        report = verify(svc.db_path)
        assert report.chain.ok, report.chain
        assert report.mismatched_tables == {}
