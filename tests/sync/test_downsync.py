"""Down-sync: change sets applied idempotently through the catalog path (as log events), a bad
change isolated and recorded, lane revocations and settings applied, rebuild still identical."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from edge import demo
from edge.compose import appliers
from schemas.sync import Change
from sync import downsync
from tests.support.store import verify
from tests.support.sync_store import make_service
from tests.sync.helpers import rows

T0 = "2026-03-02T10:00:00+00:00"


def change(cid: int, kind: str, payload: dict) -> Change:
    return Change(cid, kind, msgspec.json.encode(payload), 1_772_445_600_000)


@pytest.fixture
def svc(tmp_path: Path):
    s = make_service(tmp_path)
    s.start()
    s.tokens = demo.seed(s)
    yield s
    s.stop()


def _apply(svc, changes, next_after=0):
    return svc.writer.run_sync(lambda tx: downsync.apply_change_set(
        tx, changes, {**downsync.APPLIERS, **appliers()}, next_after=next_after))


def test_catalog_changes_become_events_once_however_often_delivered(svc) -> None:
    changes = [
        change(1, "catalog.tax_class_set", {"code": "luxury", "rate_ppm": 250_000}),
        change(2, "catalog.product_upserted", {
            "product_id": "caviar", "name": "Caviar 50 g", "tax_class": "luxury",
            "variants": [{"sku": "CAVIAR-50"}]}),
        change(3, "catalog.price_set", {"sku": "CAVIAR-50", "version": 1,
                                        "amount_minor": 4_999, "effective_at": T0}),
        change(4, "catalog.price_set", {"price": {"sku": "MILK-1L", "version": 2,
                                                  "amount_minor": 129, "effective_at": T0}}),
    ]
    head = svc.reader.execute("SELECT max(seq) FROM events").fetchall()[0][0]
    out = _apply(svc, changes)
    assert [c for c, _ in out.applied] == [1, 2, 3, 4] and out.events == 4
    types = rows(svc, "SELECT type FROM events WHERE seq > ? ORDER BY seq", (head,))
    assert types == [("catalog.tax_class_set",), ("catalog.product_upserted",),
                     ("catalog.price_set",), ("catalog.price_set",)]
    assert rows(svc, "SELECT amount_minor FROM prices WHERE sku='CAVIAR-50'") == [(4999,)]
    again = _apply(svc, changes)  # a lost answer: the same set delivered again
    assert again.applied == [] and again.skipped == 4 and again.events == 0
    assert rows(svc, "SELECT count(*) FROM events WHERE seq > ?", (head,)) == [(4,)]
    assert rows(svc, "SELECT down_after FROM sync_state") == [(4,)]
    assert verify(svc.db_path).ok  # the catalog is rebuildable from the log


def test_a_bad_change_is_rejected_and_recorded_without_blocking_the_others(svc) -> None:
    changes = [
        change(10, "catalog.price_set", {"sku": "NO-SUCH-SKU", "version": 1,
                                         "amount_minor": 100, "effective_at": T0}),
        change(11, "catalog.price_set", {"sku": "MILK-1L", "version": 7,
                                         "amount_minor": 139, "effective_at": T0}),
        change(12, "catalog.price_set", b"not json" and {"sku": 5}),
        change(13, "config.set", {"key": "receipt.footer", "value": "Danke!"}),
    ]
    out = _apply(svc, changes)
    assert [c for c, _ in out.applied] == [11, 13]
    assert sorted(c for c, _, _ in out.rejected) == [10, 12]
    inbox = dict(rows(svc, "SELECT change_id, status FROM sync_inbox"))
    assert inbox == {10: "rejected", 11: "applied", 12: "rejected", 13: "applied"}
    assert "NO-SUCH-SKU" in rows(svc, "SELECT detail FROM sync_inbox WHERE change_id=10")[0][0]
    assert rows(svc, "SELECT amount_minor FROM prices WHERE sku='MILK-1L' AND version=7") == [(139,)]
    assert rows(svc, "SELECT value FROM sync_settings WHERE key='receipt.footer'") == [("Danke!",)]
    assert verify(svc.db_path).ok


def test_lane_revocation_for_this_store_only(svc) -> None:
    out = _apply(svc, [
        change(20, "lane.token_revoked", {"store_id": "store-999", "lane_id": "lane-1"}),
        change(21, "lane.token_revoked", {"store_id": "store-001", "lane_id": "lane-2"}),
    ], next_after=25)
    assert [c for c, _ in out.applied] == [20, 21]
    assert svc.authenticate(svc.tokens["lane-1"]) is not None
    assert svc.authenticate(svc.tokens["lane-2"]) is None
    assert rows(svc, "SELECT down_after FROM sync_state") == [(25,)]


def test_settings_keep_the_newest_change(svc) -> None:
    _apply(svc, [change(31, "config.set", {"key": "k", "value": "new"})])
    _apply(svc, [change(30, "config.set", {"key": "k", "value": "old"})])
    assert rows(svc, "SELECT value, change_id FROM sync_settings") == [("new", 31)]
