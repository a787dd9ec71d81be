"""Invariants of the stock ledger under any interleaving of sales, receipts, adjustments,
counts, transfers, reservations and their ends (hypothesis, on a real store):
- on-hand and reserved per SKU equal the sum of the stock events in the log (`core.stock`),
  and a rebuild from the log gives the same read model;
- a reservation never drives available below zero: after every successful reserve, available
  of each reserved SKU is >= 0;
- every reservation ends exactly once, released, fulfilled or expired (expiry sweeps the rest).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from edge import config as config_mod
from edge import demo
from edge.inventory import commands, levels
from schemas import inventory as inv
from schemas import inventory_api as api
from tests.edge.inventory.helpers import MANAGER, SKUS, folded, levels_of, sell
from tests.support.store import TestStore, verify

CFG = config_mod.load(None, {})
sku = st.sampled_from(SKUS)
op = st.one_of(
    st.tuples(st.just("sell"), st.lists(st.tuples(sku, st.integers(1, 3)), min_size=1,
                                         max_size=3)),
    st.tuples(st.just("receive"), st.lists(st.tuples(sku, st.integers(0, 5000)), min_size=1,
                                            max_size=3)),
    st.tuples(st.just("adjust"), sku, st.integers(-4000, 4000)),
    st.tuples(st.just("count"), st.lists(st.tuples(sku, st.integers(0, 6000)), min_size=1,
                                          max_size=3)),
    st.tuples(st.just("reserve"), st.lists(st.tuples(sku, st.integers(1, 3000)), min_size=1,
                                            max_size=2), st.integers(1, 100)),
    st.tuples(st.just("end"), st.integers(0, 10), st.sampled_from(["released", "fulfilled"])),
    st.tuples(st.just("expire"), st.integers(0, 100)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=25))
def test_stock_is_the_sum_of_its_events_and_reservations_fit_and_end(program) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        s = TestStore(Path(tmp) / "s", CFG)
        s.start()
        demo.seed(s)
        t0 = s.clock.now_ms()
        made: list[str] = []
        try:
            for step in program:
                kind = step[0]
                try:
                    if kind == "sell":
                        sell(s, step[1])
                    elif kind == "receive":
                        req = api.ReceiveStock(tuple(api.CountedQty(k, q) for k, q in step[1]))
                        s.writer.run_sync(lambda tx, r=req: commands.receive(tx, "l", r))
                    elif kind == "adjust" and step[2] != 0:
                        req = api.AdjustStock(step[1], step[2], "correction")
                        s.writer.run_sync(lambda tx, r=req: commands.adjust(
                            tx, MANAGER, CFG.inventory, r))
                    elif kind == "count":
                        req = api.CountStock("s", tuple(api.CountedQty(k, q) for k, q in step[1]))
                        s.writer.run_sync(lambda tx, r=req: commands.count(
                            tx, MANAGER, CFG.inventory, r))
                    elif kind == "reserve":
                        lines = tuple(inv.StockLine(k, q) for k, q in step[1])
                        rid = s.writer.run_sync(lambda tx, ln=lines, e=step[2]: commands.reserve(
                            tx, "test", ln, t0 + e))
                        made.append(rid)
                        for k, _ in step[1]:
                            assert levels.level(s.reader, k).available_milli >= 0
                    elif kind == "end" and made:
                        rid = made[step[1] % len(made)]
                        s.writer.run_sync(lambda tx, r=rid, o=step[2]: commands.end(
                            tx, r, o, taken=()))
                    elif kind == "expire":
                        s.writer.run_sync(lambda tx, e=step[1]: commands.expire_due(tx, t0 + e))
                except DomainError:
                    pass  # refused (short, already ended): nothing was recorded
                assert levels_of(s) == folded(s)
            s.writer.run_sync(lambda tx: commands.expire_due(tx, t0 + 10**6))
            ends = dict(s.reader.execute(
                "SELECT reservation_id, count(*) FROM events e JOIN stock_reservations r "
                "ON e.stream = 'reservation:' || r.reservation_id "
                "WHERE e.type = 'stock.reservation_ended' GROUP BY reservation_id").fetchall())
            states = dict(s.reader.execute(
                "SELECT reservation_id, state FROM stock_reservations").fetchall())
            assert set(states) == set(made)
            assert all(v in ("released", "fulfilled", "expired") for v in states.values())
            assert all(ends.get(r) == 1 for r in made)
            assert all(v[1] == 0 for v in levels_of(s).values())  # nothing held any more
            assert verify(s.db_path).ok
        finally:
            s.stop()
