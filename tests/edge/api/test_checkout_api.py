"""Checkout through the real HTTP API: a sale from scan to receipt, and its look-ups."""

from __future__ import annotations

from tests.conftest import new_key
from tests.support.live_app import LiveApp

MILK_EAN = "4006381333931"


def post(client, path, body, key=None, **kw):
    return client.post(path, json=body, headers={"Idempotency-Key": key or new_key()}, **kw)


def open_cart(client) -> str:
    r = post(client, "/v1/carts", {})
    assert r.status_code == 201, r.text
    return r.json()["cart_id"]


def test_a_cash_sale_from_scan_to_receipt(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    r = post(c, f"/v1/carts/{cart}/lines", {"barcode": MILK_EAN, "qty": 2})
    assert r.status_code == 201
    line = r.json()["lines"][0]
    assert (line["sku"], line["qty_milli"], line["unit_price_minor"], line["total_minor"]) == (
        "MILK-1L", 2000, 119, 238)
    r = post(c, f"/v1/carts/{cart}/lines", {"sku": "BANANA", "qty_milli": 1234})
    banana = r.json()["lines"][1]
    assert banana["gross_minor"] == 246  # 1.234 kg x 1.99/kg = 2.45566 -> 2.46 (half up)
    view = r.json()
    assert view["total_minor"] == 238 + 246 and view["amount_due_minor"] == 484

    r = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 1000})
    assert r.json()["change_due_minor"] == 516
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["total_minor"] == 484 and order["change_due_minor"] == 516
    assert order["tendered_minor"] == 1000
    assert [ln["sku"] for ln in order["lines"]] == ["MILK-1L", "BANANA"]
    assert all(ln["price_version"] == 1 and not ln["sold_under_lock"] for ln in order["lines"])
    # Inclusive 7 % tax on each line, rounded per line: 238*7/107 = 15.57 -> 16; 246 -> 16.09 -> 16.
    assert [ln["tax_minor"] for ln in order["lines"]] == [16, 16] and order["tax_minor"] == 32

    assert c.get(f"/v1/orders/{order['order_id']}").json() == order
    found = c.get("/v1/orders", params={"receipt_number": order["receipt_number"]})
    assert found.json()["order_id"] == order["order_id"]
    receipt = c.get(f"/v1/orders/{order['order_id']}/receipt").json()
    assert receipt["total_text"] == "4.84 EUR" and receipt["change_text"] == "5.16 EUR"
    assert receipt["barcode"] == order["receipt_number"]
    assert receipt["lines"][1]["qty_text"].startswith("1.234 kg")

    assert c.get(f"/v1/carts/{cart}").json()["status"] == "completed"


def test_receipt_numbers_are_sequential_per_store(live: LiveApp) -> None:
    numbers = []
    for lane in ("lane-1", "lane-2"):
        c = live.client(lane)
        cart = open_cart(c)
        post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
        post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 500})
        numbers.append(post(c, f"/v1/carts/{cart}/complete", {}).json()["receipt_number"])
    assert numbers == ["store-001-0000001", "store-001-0000002"]


def test_void_closes_the_cart(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    r = post(c, f"/v1/carts/{cart}/void", {"reason": "customer left"})
    assert r.status_code == 200 and r.json()["status"] == "voided"
    r = post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    assert r.status_code == 409 and r.json()["type"].endswith("/cart-closed")


def test_change_qty_and_remove_line(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"})
    r = c.patch(f"/v1/carts/{cart}/lines/1", json={"qty": 3}, headers={"Idempotency-Key": new_key()})
    assert r.status_code == 200 and r.json()["lines"][0]["qty_milli"] == 3000
    r = c.delete(f"/v1/carts/{cart}/lines/2", headers={"Idempotency-Key": new_key()})
    assert [ln["line_id"] for ln in r.json()["lines"]] == [1]
    assert r.json()["total_minor"] == 3 * 249


def test_exclusive_tax_store(live_with) -> None:
    c = live_with({"NOVAPOS_STORE__TAX_MODE": "exclusive"}).client()
    cart = open_cart(c)
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "TSHIRT-BLK-M"}).json()
    # 14.99 + 19 % = 2.8481 -> 2.85
    assert (view["subtotal_minor"], view["tax_minor"], view["total_minor"]) == (1499, 285, 1784)


def test_health_and_metrics(live: LiveApp) -> None:
    import httpx

    assert httpx.get(f"{live.url}/health/live").json()["status"] == "ok"
    ready = httpx.get(f"{live.url}/health/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "checks": {
        "migrations": "ok", "database_writable": "ok", "event_chain": "ok", "pickup_sla": "ok"}}
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 500})
    post(c, f"/v1/carts/{cart}/complete", {})
    text = httpx.get(f"{live.url}/metrics").text
    assert 'novapos_http_request_duration_seconds_count{method="POST",route="/v1/carts/{cart_id}/lines",status="201"} 1.0' in text
    assert "novapos_sale_commit_duration_seconds_count 1.0" in text
    assert 'novapos_events_appended_total{type="sale.completed"} 1.0' in text
    assert "novapos_idempotent_replays_total 0.0" in text


def test_openapi_is_served(live: LiveApp) -> None:
    import httpx

    spec = httpx.get(f"{live.url}/schema/openapi.json").json()
    assert "/v1/carts/{cart_id}/complete" in spec["paths"]
    assert spec["info"]["title"] == "NovaPOS Edge store API"
