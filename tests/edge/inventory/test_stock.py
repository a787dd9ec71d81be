"""Stock as a store keeps it: sales take units off on-hand (never blocked, negative flagged),
receipts against announced deliveries record discrepancies, adjustments carry a reason, a
blind count's variance above the threshold needs a manager; everything rebuilds from the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import DomainError
from edge import config as config_mod
from edge import demo
from edge.errors import ManagerRequired
from edge.inventory import commands, levels
from edge.inventory.errors import AlreadyDone, UnknownDelivery, UnknownSku
from schemas import inventory as inv
from schemas import inventory_api as api
from tests.edge.inventory.helpers import CASHIER, MANAGER, folded, levels_of, sell
from tests.support.store import TestStore, verify

CFG = config_mod.load(None, {})


@pytest.fixture
def store(tmp_path: Path):
    s = TestStore(tmp_path / "s", CFG)
    s.start()
    demo.seed(s)
    yield s
    s.stop()


def _receive(s, lines, delivery_id=None, who=CASHIER):
    req = api.ReceiveStock(lines=tuple(api.CountedQty(k, v) for k, v in lines),
                           delivery_id=delivery_id)
    rid = s.writer.run_sync(lambda tx: commands.receive(tx, who.lane_id, req))
    return commands.receipt_view(s.reader, rid)


def test_a_sale_takes_its_units_off_on_hand_and_may_drive_it_negative(store) -> None:
    _receive(store, [("MILK-1L", 2000)])
    sell(store, [("MILK-1L", 3), ("BREAD-500G", 1)])
    milk = levels.level(store.reader, "MILK-1L")
    assert milk is not None and milk.on_hand_milli == -1000 and milk.negative
    assert levels.level(store.reader, "BREAD-500G").on_hand_milli == -1000
    assert [v.sku for v in levels.low(store.reader, 0, 10)] == ["BREAD-500G", "MILK-1L"]
    assert levels_of(store) == folded(store)
    assert verify(store.db_path).ok


def test_the_same_sku_on_two_lines_of_a_sale_counts_twice(store) -> None:
    sell(store, [("COFFEE-250G", 1), ("COFFEE-250G", 2)])
    assert levels.level(store.reader, "COFFEE-250G").on_hand_milli == -3000


def test_a_receipt_against_a_delivery_records_counted_and_discrepancies(store) -> None:
    store.writer.run_sync(lambda tx: tx.append(inv.DeliveryExpected(
        delivery_id="D1", source="supplier", supplier="Dairy",
        lines=(inv.StockLine("MILK-1L", 12000), inv.StockLine("BREAD-500G", 5000))),
        stream="stock:delivery:D1", lane_id=None))
    view = _receive(store, [("MILK-1L", 11000), ("COFFEE-250G", 1000)], delivery_id="D1")
    assert {(ln.sku, ln.expected_milli, ln.counted_milli, ln.discrepancy_milli)
            for ln in view.lines} == {("MILK-1L", 12000, 11000, -1000),
                                      ("BREAD-500G", 5000, 0, -5000),
                                      ("COFFEE-250G", 0, 1000, 1000)}
    assert view.discrepancies == 3
    assert levels.level(store.reader, "MILK-1L").on_hand_milli == 11000
    assert commands.deliveries(store.reader, "received")[0].receipt_id == view.receipt_id
    with pytest.raises(AlreadyDone):
        _receive(store, [("MILK-1L", 1000)], delivery_id="D1")
    with pytest.raises(UnknownDelivery):
        _receive(store, [("MILK-1L", 1000)], delivery_id="nope")
    assert verify(store.db_path).ok


def test_unknown_skus_are_refused_and_nothing_is_recorded(store) -> None:
    head = store.reader.execute("SELECT max(seq) FROM events").fetchall()[0][0]
    with pytest.raises(UnknownSku):
        _receive(store, [("MILK-1L", 1000), ("NO-SUCH", 1000)])
    assert store.reader.execute("SELECT max(seq) FROM events").fetchall()[0][0] == head


def test_an_adjustment_has_a_reason_and_a_big_one_needs_a_manager(store) -> None:
    req = api.AdjustStock("BREAD-500G", -2000, "damage", "dropped")
    store.writer.run_sync(lambda tx: commands.adjust(tx, CASHIER, CFG.inventory, req))
    assert levels.level(store.reader, "BREAD-500G").on_hand_milli == -2000
    big = api.AdjustStock("BREAD-500G", -20_000, "theft")
    with pytest.raises(ManagerRequired):
        store.writer.run_sync(lambda tx: commands.adjust(tx, CASHIER, CFG.inventory, big))
    store.writer.run_sync(lambda tx: commands.adjust(tx, MANAGER, CFG.inventory, big))
    assert levels.level(store.reader, "BREAD-500G").on_hand_milli == -22_000
    reasons = [r[0] for r in store.reader.execute(
        "SELECT reason FROM stock_adjustments ORDER BY seq")]
    assert reasons == ["damage", "theft"]


def test_a_blind_count_sets_on_hand_to_what_was_found(store) -> None:
    _receive(store, [("MILK-1L", 10_000), ("BREAD-500G", 4000)])
    sell(store, [("MILK-1L", 1)])
    req = api.CountStock("dairy", (api.CountedQty("MILK-1L", 7000),
                                   api.CountedQty("BREAD-500G", 4000)))
    cid = store.writer.run_sync(lambda tx: commands.count(tx, CASHIER, CFG.inventory, req))
    view = commands.count_view(store.reader, cid)
    assert [(ln.sku, ln.expected_milli, ln.variance_milli) for ln in view.lines] == [
        ("BREAD-500G", 4000, 0), ("MILK-1L", 9000, -2000)]
    assert levels.level(store.reader, "MILK-1L").on_hand_milli == 7000
    far_off = api.CountStock("dairy", (api.CountedQty("MILK-1L", 0),))
    with pytest.raises(ManagerRequired):
        store.writer.run_sync(lambda tx: commands.count(tx, CASHIER, CFG.inventory, far_off))
    assert levels.level(store.reader, "MILK-1L").on_hand_milli == 7000
    store.writer.run_sync(lambda tx: commands.count(tx, MANAGER, CFG.inventory, far_off))
    assert levels.level(store.reader, "MILK-1L").on_hand_milli == 0
    assert verify(store.db_path).ok


def test_a_reservation_never_takes_available_below_zero(store) -> None:
    _receive(store, [("COFFEE-250G", 2000)])
    line = (inv.StockLine("COFFEE-250G", 2000),)
    rid = store.writer.run_sync(lambda tx: commands.reserve(tx, "pickup:A", line, 10**15))
    with pytest.raises(DomainError) as refused:
        store.writer.run_sync(lambda tx: commands.reserve(
            tx, "pickup:B", (inv.StockLine("COFFEE-250G", 1000),), 10**15))
    assert refused.value.extra["short"] == [
        {"sku": "COFFEE-250G", "requested_milli": 1000, "available_milli": 0}]
    c = levels.level(store.reader, "COFFEE-250G")
    assert (c.on_hand_milli, c.reserved_milli, c.available_milli) == (2000, 2000, 0)
    store.writer.run_sync(lambda tx: commands.end(tx, rid, "fulfilled", taken=line))
    c = levels.level(store.reader, "COFFEE-250G")
    assert (c.on_hand_milli, c.reserved_milli) == (0, 0)
    assert verify(store.db_path).ok


def test_reservations_expire_at_the_store(store) -> None:
    _receive(store, [("MILK-1L", 1000)])
    now = store.clock.now_ms()
    store.writer.run_sync(lambda tx: commands.reserve(
        tx, "hold:x", (inv.StockLine("MILK-1L", 1000),), now + 60_000))
    assert store.writer.run_sync(lambda tx: commands.expire_due(tx, now + 59_999)) == []
    expired = store.writer.run_sync(lambda tx: commands.expire_due(tx, now + 60_000))
    assert [r.owner for r in expired] == ["hold:x"]
    assert levels.level(store.reader, "MILK-1L").available_milli == 1000
