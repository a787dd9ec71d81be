"""Stock and pickup changes from HQ, applied by the store's down-sync: a delivery becomes an
expected delivery, a transfer request is shipped, safety stock lowers available, a pickup
order is received; changes for another store are skipped; a change set applied twice (a lost
answer, a restart) changes nothing the second time; a malformed payload is rejected alone."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from edge import compose
from edge import config as config_mod
from edge import demo
from edge.inventory import commands, levels
from schemas import inventory_api as api
from schemas.sync import Change
from sync import downsync
from tests.support.store import TestStore, verify

CFG = config_mod.load(None, {})
_enc = msgspec.json.encode


@pytest.fixture
def store(tmp_path: Path):
    s = TestStore(tmp_path / "s", CFG)
    s.start()
    demo.seed(s)
    yield s
    s.stop()


def _apply(s, changes):
    return s.writer.run_sync(lambda tx: downsync.apply_change_set(
        tx, changes, {**downsync.APPLIERS, **compose.appliers()}))


def test_stock_changes_from_hq(store) -> None:
    line = (api.DeliveryLine("MILK-1L", 6000),)
    changes = [
        Change(1, "inventory.delivery", _enc(api.DeliveryNotice("D1", "store-001", line)), 0),
        Change(2, "inventory.delivery", _enc(api.DeliveryNotice("D2", "store-002", line)), 0),
        Change(3, "inventory.transfer", _enc(api.TransferRequest(
            "T1", "store-001", "store-002", (api.DeliveryLine("BREAD-500G", 2000),))), 0),
        Change(4, "inventory.safety_stock", _enc(api.SafetyStock("MILK-1L", 1000)), 0),
        Change(5, "pickup.order", _enc(api.PickupOrderChange(
            "W1", "store-001", "123456", (api.PickupLine("MILK-1L", 1000),))), 0),
        Change(6, "pickup.order", b'{"order_id": "W2"}', 0),
    ]
    out = _apply(store, changes)
    assert [c for c, _k in out.applied] == [1, 2, 3, 4, 5]
    assert [c for c, _k, _w in out.rejected] == [6]
    assert [d.delivery_id for d in commands.deliveries(store.reader, "expected")] == ["D1"]
    assert commands.transfer_view(store.reader, "T1").state == "requested"
    assert store.reader.execute("SELECT state FROM pickup_orders").fetchall() == [("received",)]
    again = _apply(store, changes)
    assert again.skipped == 6 and again.events == 0

    store.writer.run_sync(lambda tx: commands.receive(tx, "l", api.ReceiveStock(
        (api.CountedQty("MILK-1L", 6000),), delivery_id="D1")))
    milk = levels.level(store.reader, "MILK-1L")
    assert (milk.on_hand_milli, milk.safety_milli, milk.available_milli) == (6000, 1000, 5000)
    store.writer.run_sync(lambda tx: commands.ship(tx, "l", "T1", api.ShipTransfer()))
    view = commands.transfer_view(store.reader, "T1")
    assert view.state == "shipped" and view.lines[0].shipped_milli == 2000
    assert levels.level(store.reader, "BREAD-500G").on_hand_milli == -2000
    assert verify(store.db_path).ok
