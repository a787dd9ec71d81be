"""Pickup orders at a store: decided by the sweeper (every line reserved, or rejected naming
the short lines; of two orders for the last unit exactly one is accepted), picked by scanning
(a wrong item refused, a substitution recorded and flagged), packed, ready, handed over with
the code (prepaid: the units leave with the reservation; paid at pickup: after the lane's
sale); a lane selling a held unit flags the order short; a no-show is released on the
store's clock; SLA timers breach."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import ManualClock
from core.errors import Conflict
from edge import config as config_mod
from edge import demo
from edge.inventory import commands as stock
from edge.inventory import levels
from edge.pickup import commands
from edge.pickup.commands import PaymentRequired, WrongItem, WrongPickupCode
from edge.pickup.machine import WrongState
from schemas import inventory_api as api
from schemas.pickup import PickupLine, PickupOrder
from tests.edge.inventory.helpers import sell
from tests.support.live_app import START_MS
from tests.support.store import TestStore, verify

CFG = config_mod.load(None, {})
P = CFG.pickup
MILK_EAN = "4006381333931"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock):
    s = TestStore(tmp_path / "s", CFG, clock)
    s.start()
    demo.seed(s)
    yield s
    s.stop()


def _stock(s, sku: str, units: int) -> None:
    req = api.ReceiveStock(lines=(api.CountedQty(sku, units * 1000),))
    s.writer.run_sync(lambda tx: stock.receive(tx, "l", req))


def _order(s, order_id: str, lines: list[tuple[str, int]], prepaid: bool = True) -> None:
    placed = PickupOrder(order_id=order_id, store_id="store-001", pickup_code=f"C-{order_id}",
                         lines=tuple(PickupLine(sku, q * 1000) for sku, q in lines),
                         prepaid=prepaid)
    s.writer.run_sync(lambda tx: commands.receive(tx, placed))


def _sweep(s):
    return s.writer.run_sync(lambda tx: commands.sweep(tx, P))


def _state(s, order_id: str) -> str:
    return commands.order(s.reader, order_id).state


def test_two_orders_for_the_last_unit_exactly_one_is_accepted(store) -> None:
    _stock(store, "COFFEE-250G", 1)
    _order(store, "A", [("COFFEE-250G", 1)])
    _order(store, "B", [("COFFEE-250G", 1), ("MILK-1L", 2)])
    swept = _sweep(store)
    assert swept.decided == [("A", "accepted"), ("B", "rejected")]
    rejected = store.reader.execute("SELECT sku, requested_milli, available_milli FROM "
                                    "pickup_rejections WHERE order_id = 'B' ORDER BY sku"
                                    ).fetchall()
    assert rejected == [("COFFEE-250G", 1000, 0), ("MILK-1L", 2000, 0)]
    assert levels.level(store.reader, "COFFEE-250G").available_milli == 0
    assert _sweep(store).decided == []  # decided once
    assert verify(store.db_path).ok


def test_pick_pack_ready_handover_prepaid(store) -> None:
    _stock(store, "MILK-1L", 3)
    _stock(store, "COFFEE-250G", 2)
    _order(store, "W1", [("MILK-1L", 2), ("BREAD-500G", 1)])
    _stock(store, "BREAD-500G", 1)
    assert _sweep(store).decided == [("W1", "accepted")]
    with pytest.raises(WrongItem):  # coffee is not on the order
        store.writer.run_sync(lambda tx: commands.pick(tx, "l", "W1",
                                                       api.PickScan("COFFEE-250G")))
    store.writer.run_sync(lambda tx: commands.pick(tx, "l", "W1", api.PickScan(MILK_EAN)))
    with pytest.raises(commands.PickIncomplete):
        store.writer.run_sync(lambda tx: commands.pack(tx, "l", "W1"))
    store.writer.run_sync(lambda tx: commands.pick(tx, "l", "W1", api.PickScan(MILK_EAN)))
    with pytest.raises(Conflict):  # over-pick
        store.writer.run_sync(lambda tx: commands.pick(tx, "l", "W1", api.PickScan(MILK_EAN)))
    store.writer.run_sync(lambda tx: commands.pick(  # out of bread: coffee instead
        tx, "l", "W1", api.PickScan("COFFEE-250G", substitute_for="BREAD-500G")))
    view = commands.view(store.reader, "W1", START_MS, P)
    assert view.substituted and view.state == "picking"
    assert [ln.picked_milli for ln in view.lines] == [2000, 1000]
    with pytest.raises(WrongState):
        store.writer.run_sync(lambda tx: commands.ready(tx, "l", "W1"))
    store.writer.run_sync(lambda tx: commands.pack(tx, "l", "W1"))
    store.writer.run_sync(lambda tx: commands.ready(tx, "l", "W1"))
    with pytest.raises(WrongPickupCode):
        store.writer.run_sync(lambda tx: commands.handover(tx, "lane-1", "W1",
                                                           api.Handover("0000")))
    store.writer.run_sync(lambda tx: commands.handover(tx, "lane-1", "W1",
                                                       api.Handover("C-W1")))
    assert _state(store, "W1") == "handed_over"
    lv = levels.levels(store.reader, ["MILK-1L", "BREAD-500G", "COFFEE-250G"])
    # What left was what was picked: 2 milk and the substitute coffee; the bread stays.
    assert {k: (v.on_hand_milli, v.reserved_milli) for k, v in lv.items()} == {
        "MILK-1L": (1000, 0), "BREAD-500G": (1000, 0), "COFFEE-250G": (1000, 0)}
    assert verify(store.db_path).ok


def test_paid_at_pickup_needs_the_lanes_sale(store) -> None:
    _stock(store, "MILK-1L", 1)
    _order(store, "W2", [("MILK-1L", 1)], prepaid=False)
    _sweep(store)
    store.writer.run_sync(lambda tx: commands.pick(tx, "l", "W2", api.PickScan("MILK-1L")))
    store.writer.run_sync(lambda tx: commands.pack(tx, "l", "W2"))
    store.writer.run_sync(lambda tx: commands.ready(tx, "l", "W2"))
    with pytest.raises(PaymentRequired):
        store.writer.run_sync(lambda tx: commands.handover(tx, "lane-1", "W2",
                                                           api.Handover("C-W2")))
    order_id = sell(store, [("MILK-1L", 1)])
    store.writer.run_sync(lambda tx: commands.handover(
        tx, "lane-1", "W2", api.Handover("C-W2", sale_order_id=order_id)))
    milk = levels.level(store.reader, "MILK-1L")
    assert (milk.on_hand_milli, milk.reserved_milli) == (0, 0)  # the sale took it, once


def test_a_lane_selling_a_held_unit_flags_the_order_short(store) -> None:
    _stock(store, "MILK-1L", 2)
    _order(store, "OLD", [("MILK-1L", 1)])
    _sweep(store)
    _order(store, "NEW", [("MILK-1L", 1)])
    _sweep(store)
    sell(store, [("MILK-1L", 1)])  # allowed: the item is in the customer's hand
    swept = _sweep(store)
    assert swept.flagged == [("NEW", "MILK-1L")]
    assert commands.order(store.reader, "NEW").short
    assert not commands.order(store.reader, "OLD").short
    assert _sweep(store).flagged == []  # flagged once
    # A new reservation never drives available negative.
    _order(store, "THIRD", [("MILK-1L", 1)])
    assert _sweep(store).decided == [("THIRD", "rejected")]


def test_a_no_show_is_released_on_the_stores_clock(store, clock) -> None:
    _stock(store, "BREAD-500G", 1)
    _order(store, "NS", [("BREAD-500G", 1)])
    _sweep(store)
    clock.advance(P.no_show_days * 86_400_000 - 1)
    assert _sweep(store).no_shows == []
    clock.advance(1)
    assert _sweep(store).no_shows == ["NS"]
    o = commands.order(store.reader, "NS")
    assert (o.state, o.cancel_reason) == ("cancelled", "no_show")
    assert levels.level(store.reader, "BREAD-500G").available_milli == 1000


def test_sla_timers_breach(store, clock) -> None:
    cfg = config_mod.load(None, {"NOVAPOS_PICKUP__AUTO_ACCEPT": "false"}).pickup
    _stock(store, "BREAD-500G", 1)
    _order(store, "S", [("BREAD-500G", 1)])
    assert commands.breaches(store.reader, clock.now_ms(), cfg) == []
    clock.advance(cfg.accept_within_min * 60_000 + 1)
    assert commands.breaches(store.reader, clock.now_ms(), cfg) == [("S", "accept")]
    store.writer.run_sync(lambda tx: commands.decide(tx, "S", cfg))
    assert commands.breaches(store.reader, clock.now_ms(), cfg) == []
    clock.advance(cfg.ready_within_min * 60_000 + 1)
    assert commands.breaches(store.reader, clock.now_ms(), cfg) == [("S", "ready")]
