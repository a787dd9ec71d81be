"""Bad input gets a 4xx problem body and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from edge import lanes
from edge.store.db import open_connection
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp


@pytest.fixture
def cart(live: LiveApp) -> str:
    c = live.client()
    cart_id = open_cart(c)
    post(c, f"/v1/carts/{cart_id}/lines", {"sku": "BREAD-500G"})
    return cart_id


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"sku": "NO-SUCH-SKU"}, 422, "unknown-item"),
        ({"barcode": "4006381333932"}, 422, "unknown-item"),  # bad check digit
        ({"sku": "BREAD-500G", "qty": 0}, 400, "invalid-request"),
        ({"sku": "BREAD-500G", "qty": -3}, 400, "invalid-request"),
        ({"sku": "BREAD-500G", "qty": 1.5}, 400, "invalid-request"),
        ({"sku": "BREAD-500G", "qty_milli": 500}, 422, "invalid-input"),  # not a weighed item
        ({"sku": "BANANA", "qty": 2}, 422, "invalid-input"),  # weighed item needs grams
        # The request contradicts itself: 400, like every other malformed request.
        ({"sku": "BREAD-500G", "barcode": "4006381333931"}, 400, "invalid-request"),
        ({}, 400, "invalid-request"),
        ({"sku": "BREAD-500G", "tenant_id": "other"}, 400, "invalid-request"),  # unknown field
    ],
)
def test_bad_line_requests(live: LiveApp, cart: str, body, status: int, slug: str) -> None:
    seq = head_seq(live)
    r = post(live.client(), f"/v1/carts/{cart}/lines", body)
    assert_problem(r, status, slug)
    assert head_seq(live) == seq


def test_malformed_json_is_400(live: LiveApp, cart: str) -> None:
    seq = head_seq(live)
    r = live.client().post(f"/v1/carts/{cart}/lines", content=b'{"sku": "BREAD',
                           headers={"Idempotency-Key": "m", "Content-Type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert head_seq(live) == seq


def test_oversize_body_is_413(live: LiveApp, cart: str) -> None:
    seq = head_seq(live)
    big = b'{"sku": "' + b"A" * (2 * 1024 * 1024) + b'"}'
    r = live.client().post(f"/v1/carts/{cart}/lines", content=big,
                           headers={"Idempotency-Key": "big", "Content-Type": "application/json"})
    assert_problem(r, 413, "body-too-large")
    assert head_seq(live) == seq


def test_unknown_cart_is_404(live: LiveApp) -> None:
    r = post(live.client(), "/v1/carts/nope/lines", {"sku": "BREAD-500G"})
    assert_problem(r, 404, "not-found")


def test_another_lanes_cart_is_403(live: LiveApp, cart: str) -> None:
    seq = head_seq(live)
    other = live.client("lane-2")
    assert_problem(post(other, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}), 403, "forbidden")
    assert_problem(other.get(f"/v1/carts/{cart}"), 403, "forbidden")
    assert head_seq(live) == seq
    # A manager may act on any lane's cart (approvals happen at the cashier's till).
    assert post(live.client("manager-1"), f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"}).status_code == 201


def test_missing_or_unknown_token_is_401(live: LiveApp) -> None:
    r = httpx.post(f"{live.url}/v1/carts", json={}, headers={"Idempotency-Key": "x"})
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(f"{live.url}/v1/carts", json={},
                   headers={"Idempotency-Key": "x", "Authorization": "Bearer npe_forged"})
    assert_problem(r, 401, "unauthorized")


def test_token_of_another_tenant_is_refused_by_the_middleware(live: LiveApp) -> None:
    conn = open_connection(live.service.db_path)
    try:
        foreign = lanes.enroll(conn, tenant_id="other-tenant", store_id="store-001",
                               lane_id="lane-9", role="manager", now_ms=0)
    finally:
        conn.close()
    seq = head_seq(live)
    r = httpx.post(f"{live.url}/v1/carts", json={},
                   headers={"Idempotency-Key": "x", "Authorization": f"Bearer {foreign.token}"})
    assert_problem(r, 403, "forbidden")
    assert head_seq(live) == seq


def test_revoked_token_stops_working(live: LiveApp) -> None:
    conn = open_connection(live.service.db_path)
    try:
        new = lanes.enroll(conn, tenant_id="demo-tenant", store_id="store-001", lane_id="lane-7",
                           role="cashier", now_ms=0)
        lanes.revoke(conn, lane_id="lane-7", now_ms=1)
    finally:
        conn.close()
    r = httpx.post(f"{live.url}/v1/carts", json={},
                   headers={"Idempotency-Key": "x", "Authorization": f"Bearer {new.token}"})
    assert_problem(r, 401, "unauthorized")


def test_tender_and_complete_rules(live: LiveApp, cart: str) -> None:
    c = live.client()
    seq = head_seq(live)
    assert_problem(post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 0}),
                   400, "invalid-request")
    assert_problem(post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cheque", "amount_minor": 100}),
                   400, "invalid-request")
    # A card needs a terminal; this store has none configured.
    assert_problem(post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "card", "amount_minor": 100}),
                   409, "no-payment-terminal")
    assert head_seq(live) == seq
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 100})
    seq = head_seq(live)
    body = assert_problem(post(c, f"/v1/carts/{cart}/complete", {}), 409, "tender-insufficient")
    assert body["amount_due_minor"] == 149
    assert head_seq(live) == seq


def test_empty_cart_cannot_complete(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    assert_problem(post(c, f"/v1/carts/{cart}/complete", {}), 409, "empty-cart")


def test_unknown_route_and_method(live: LiveApp) -> None:
    c = live.client()
    assert_problem(c.get("/v1/nothing-here"), 404, "not-found")
    assert_problem(c.put("/v1/carts", json={}), 405, "method-not-allowed")


def test_csv_import_with_bad_rows_imports_nothing(live: LiveApp) -> None:
    csv = (
        "product_id,name,tax_class,sold_by,sku,attributes,barcodes,price_minor,price_version,effective_at\n"
        "p-1,Good Item,standard,,GOOD-1,,,100,1,2026-01-01T00:00:00Z\n"
        "p-2,Bad Barcode,standard,,BAD-1,,4006381333932,100,1,2026-01-01T00:00:00Z\n"
        "p-3,Bad Price,standard,,BAD-2,,,-5,1,2026-01-01T00:00:00Z\n"
    )
    seq = head_seq(live)
    manager = live.client("manager-1")
    r = manager.post("/v1/catalog/imports", content=csv.encode(),
                     headers={"Content-Type": "text/csv", "Idempotency-Key": "imp-1"})
    body = assert_problem(r, 422, "catalog-rejected")
    rows = {e["field"].split(":")[0] for e in body["errors"]}
    assert rows == {"row 3", "row 4"}, body
    assert head_seq(live) == seq
    assert manager.get("/v1/catalog/items/GOOD-1").status_code == 404


def test_catalog_import_needs_a_manager(live: LiveApp) -> None:
    r = live.client().post("/v1/catalog/imports", json={"products": []},
                           headers={"Idempotency-Key": "imp"})
    assert_problem(r, 403, "forbidden")
