"""Down-sync: HQ publishes catalog, config and lane revocations; stores pull them by a
monotonic per-tenant change id, in pages; HQ sees what each store applied."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from cloud_relay.cli import app as cli_app
from schemas.catalog import PriceVersion, Product, TaxClass
from schemas.sync import MSGPACK_CONTENT_TYPE, ChangeSet, ConfigSet, LaneTokenRevoked
from tests.support.relay import Relay

CATALOG = {
    "tax_classes": [{"code": "STD", "rate_ppm": 190000}],
    "products": [{"product_id": "P1", "name": "Milk", "tax_class": "STD",
                  "variants": [{"sku": "MILK", "barcodes": ["4006381333931"]}]}],
    "prices": [{"sku": "MILK", "version": 1, "amount_minor": 119,
                "effective_at": "2026-03-01T00:00:00Z"}],
}
CSV = (
    "product_id,name,tax_class,sold_by,sku,attributes,barcodes,price_minor,price_version,"
    "effective_at\n"
    "P2,Bread,STD,each,BREAD,,,249,1,2026-03-01T00:00:00Z\n"
)


def _pull(client, after: int, limit: int | None = None, msgpack: bool = False) -> ChangeSet:
    path = f"/v1/stores/s1/changes?after={after}" + (f"&limit={limit}" if limit else "")
    headers = {"Accept": MSGPACK_CONTENT_TYPE} if msgpack else None
    resp = client.request("GET", path, headers=headers)
    assert resp.status_code == 200, resp.text
    if msgpack:
        assert resp.headers["content-type"] == MSGPACK_CONTENT_TYPE
        return msgspec.msgpack.decode(resp.content, type=ChangeSet)
    return msgspec.json.decode(resp.content, type=ChangeSet)


def test_published_changes_reach_stores_in_order_and_in_pages(relay: Relay) -> None:
    store = relay.store_client(relay.enroll("t1", "s1"))
    relay.enroll("t1", "s2")
    hq = relay.hq_client(relay.hq_token("t1"))
    resp = hq.post("/v1/hq/changes", json={"catalog": CATALOG})
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"tenant_id": "t1", "changes": 3, "first_change_id": 1,
                           "last_change_id": 3}
    resp = hq.post("/v1/hq/catalog", content=CSV, headers={"Content-Type": "text/csv"})
    assert resp.json()["last_change_id"] == 5
    resp = hq.post("/v1/hq/changes", json={
        "config": [{"key": "receipt.footer", "value": "Thanks"},
                   {"key": "price_lock.ttl_s", "value": "600", "store_id": "s2"}],
        "lane_revocations": [{"store_id": "s1", "lane_id": "lane-3"}]})
    assert resp.json()["last_change_id"] == 8

    full = _pull(store, 0)
    # s2's own config change (id 7) is not sent to s1.
    assert [c.change_id for c in full.changes] == [1, 2, 3, 4, 5, 6, 8]
    assert [c.kind for c in full.changes] == [
        "catalog.tax_class_set", "catalog.product_upserted", "catalog.price_set",
        "catalog.product_upserted", "catalog.price_set", "config.set", "lane.token_revoked"]
    assert msgspec.json.decode(full.changes[0].payload, type=TaxClass).rate_ppm == 190000
    assert msgspec.json.decode(full.changes[1].payload, type=Product).variants[0].sku == "MILK"
    price = msgspec.json.decode(full.changes[4].payload, type=PriceVersion)
    assert (price.sku, price.amount_minor) == ("BREAD", 249)
    assert msgspec.json.decode(full.changes[5].payload, type=ConfigSet).value == "Thanks"
    assert msgspec.json.decode(full.changes[6].payload, type=LaneTokenRevoked).lane_id == "lane-3"
    assert (full.next_after, full.more) == (8, False)

    pages, after = [], 0
    while True:
        page = _pull(store, after, limit=3, msgpack=len(pages) % 2 == 1)
        pages.append([c.change_id for c in page.changes])
        after = page.next_after
        if not page.more:
            break
    assert pages == [[1, 2, 3], [4, 5, 6], [8]]
    assert _pull(store, 8).changes == [] and _pull(store, 8).next_after == 8

    # The store reports what it applied; HQ sees it (and how far behind it is).
    resp = store.get("/v1/stores/s1/watermark?head_seq=0&applied_change_id=5")
    assert resp.json()["applied_catalog_change_id"] == 5
    status = {s["store_id"]: s for s in hq.get("/v1/stores").json()["stores"]}
    assert (status["s1"]["applied_catalog_change_id"], status["s1"]["latest_change_id"]) == (5, 8)
    assert status["s2"]["applied_catalog_change_id"] == 0


def test_a_bad_publish_is_refused_whole(relay: Relay) -> None:
    hq = relay.hq_client(relay.hq_token("t1"))
    assert hq.post("/v1/hq/changes", json={"catalog": CATALOG}).status_code == 201
    # Unknown tax class and unknown SKU: both listed, nothing published.
    bad = {"products": [{"product_id": "P9", "name": "X", "tax_class": "NOPE",
                         "variants": [{"sku": "X1"}]}],
           "prices": [{"sku": "GHOST", "version": 1, "amount_minor": 1,
                       "effective_at": "2026-03-01T00:00:00Z"}]}
    resp = hq.post("/v1/hq/changes", json={"catalog": bad})
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"products[0].tax_class",
                                                           "prices[0].sku"}
    # A price version is immutable; re-publishing it unchanged is a no-op.
    changed = dict(CATALOG["prices"][0], amount_minor=999)
    assert hq.post("/v1/hq/changes", json={"catalog": {"prices": [changed]}}).status_code == 422
    same = hq.post("/v1/hq/changes", json={"catalog": {"prices": CATALOG["prices"]}})
    assert same.status_code == 201 and same.json()["changes"] == 0
    assert hq.post("/v1/hq/changes", content=b"{", headers={
        "Content-Type": "application/json"}).status_code == 400
    assert hq.post("/v1/hq/changes", json={"surprise": 1}).status_code == 400
    resp = hq.post("/v1/hq/catalog", content=b"sku\nX\n", headers={"Content-Type": "text/csv"})
    assert resp.status_code == 422 and "bad header" in resp.json()["errors"][0]["message"]
    assert relay.storage.changes("t1", "s1", 0, 100)[-1].change_id == 3


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_cli_catalog_publish(relay: Relay, tmp_path: Path, suffix: str) -> None:
    if suffix == ".csv":
        relay.hq_client(relay.hq_token("t1")).post("/v1/hq/changes", json={
            "catalog": {"tax_classes": CATALOG["tax_classes"]}})
    path = tmp_path / f"catalog{suffix}"
    path.write_text(json.dumps(CATALOG) if suffix == ".json" else CSV)
    result = CliRunner().invoke(cli_app, ["catalog", "publish", str(path), "--tenant", "t1",
                                          *relay.cli_args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changes"] == (3 if suffix == ".json" else 2)
    bad = tmp_path / f"bad{suffix}"
    bad.write_text('{"products": 3}' if suffix == ".json" else "nope\n")
    result = CliRunner().invoke(cli_app, ["catalog", "publish", str(bad), "--tenant", "t1",
                                          *relay.cli_args])
    assert result.exit_code == 2
