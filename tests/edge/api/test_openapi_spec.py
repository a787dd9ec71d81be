"""The OpenAPI says exactly what the server does (issue 10): checked on the served document.
The fuzz test (tests/acceptance/test_openapi_fuzz.py) holds the server to it."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import new_key
from tests.support.live_app import LiveApp

MUTATING = ("post", "put", "patch", "delete")


@pytest.fixture
def spec(live: LiveApp) -> dict:
    return httpx.get(f"{live.url}/schema/openapi.json").json()


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                yield path, method, op


# POSTs that change nothing: queries whose input stays out of URLs and access logs (a
# customer's phone or email) or is a whole proposed document (a return to price).
READ_ONLY_POSTS = {"/v1/customers/lookup", "/v1/returns/quote", "/v1/returns/receiptless/quote"}


def test_idempotency_key_is_required_and_not_nullable_on_every_mutation(spec: dict) -> None:
    mutating = [(p, m, op) for p, m, op in _operations(spec)
                if m in MUTATING and not (m == "post" and p in READ_ONLY_POSTS)]
    assert len(mutating) >= 14
    for path, method, op in mutating:
        (key,) = [x for x in op.get("parameters", []) if x["name"] == "Idempotency-Key"]
        assert key["required"] is True, (method, path)
        assert key["schema"]["type"] == "string" and "oneOf" not in key["schema"], (method, path)


def test_health_needs_no_token_and_ready_declares_503(spec: dict, live: LiveApp) -> None:
    assert spec["security"] == [{"LaneToken": []}]
    for path in ("/health/live", "/health/ready"):
        assert spec["paths"][path]["get"]["security"] == []
        assert httpx.get(f"{live.url}{path}").status_code == 200
    assert "503" in spec["paths"]["/health/ready"]["get"]["responses"]


def test_the_lane_event_stream_is_declared_as_sse(spec: dict) -> None:
    ok = spec["paths"]["/v1/lanes/{lane_id}/events"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]


def test_business_dates_are_dates(spec: dict) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("OrderView", "ReceiptView", "ZReport"):
        assert schemas[name]["properties"]["business_date"]["format"] == "date", name
    (param,) = spec["paths"]["/v1/reports/z"]["get"]["parameters"]
    assert any(b.get("format") == "date" for b in param["schema"]["oneOf"])


def test_catalog_import_declares_its_body(spec: dict) -> None:
    body = spec["paths"]["/v1/catalog/imports"]["post"]["requestBody"]
    assert body["required"] is True and set(body["content"]) == {"application/json", "text/csv"}
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert ref in spec["components"]["schemas"]


def test_every_body_declares_415_and_free_text_is_marked(spec: dict) -> None:
    for path, method, op in _operations(spec):
        if "requestBody" in op:
            assert "415" in op["responses"], (method, path)
            assert "unsupported-media-type" in op["responses"]["415"]["description"]
    note = spec["components"]["schemas"]["OpenCart"]["properties"]["note"]
    assert note["x-free-text"] is True and "pattern" in note


def test_links_lead_from_a_cart_to_a_refund(spec: dict) -> None:
    by_id = {op["operationId"]: (m, p) for p, m, op in _operations(spec)}

    def links(method: str, path: str, status: str) -> dict[str, tuple[str, str]]:
        out = spec["paths"][path][method]["responses"][status]["links"]
        return {name: by_id[link["operationId"]] for name, link in out.items()}

    assert links("post", "/v1/carts", "201")["AddLine"] == ("post", "/v1/carts/{cart_id}/lines")
    after_line = links("post", "/v1/carts/{cart_id}/lines", "201")
    assert after_line["AddTender"] == ("post", "/v1/carts/{cart_id}/tenders")
    assert after_line["ChangeQty"] == ("patch", "/v1/carts/{cart_id}/lines/{line_id}")
    after_tender = links("post", "/v1/carts/{cart_id}/tenders", "201")
    assert after_tender["Complete"] == ("post", "/v1/carts/{cart_id}/complete")
    after_sale = links("post", "/v1/carts/{cart_id}/complete", "201")
    assert after_sale["GetOrder"] == ("get", "/v1/orders/{order_id}")
    assert after_sale["Refund"] == ("post", "/v1/orders/{order_id}/refunds")
    assert "GetRefund" in links("post", "/v1/orders/{order_id}/refunds", "201")


def test_request_rules_are_in_the_schema(spec: dict) -> None:
    schemas = spec["components"]["schemas"]
    assert "oneOf" in schemas["AddLine"] and "oneOf" in schemas["ChangeQty"]
    refund_line = schemas["RefundLineRequest"]["properties"]
    assert refund_line["line_no"]["deprecated"] is True
    order_line = schemas["OrderLineView"]["properties"]
    assert "line_id" in order_line and order_line["line_no"]["deprecated"] is True


def _follow(spec: dict, response: dict, method: str, path: str, status: str, name: str) -> str:
    """The path a link of `method path` -> `status` leads to, its parameters read from
    `response` as the link's runtime expressions say."""
    link = spec["paths"][path][method]["responses"][status]["links"][name]
    target = next(p for p, m, op in _operations(spec) if op["operationId"] == link["operationId"])
    for param, expr in link["parameters"].items():
        assert expr.startswith("$response.body#/")
        value: object = response
        for part in expr.split("#/", 1)[1].split("/"):
            value = value[int(part)] if isinstance(value, list) else value[part]  # type: ignore[index]
        target = target.replace("{" + param + "}", str(value))
    return target


def test_following_the_links_rings_a_sale_and_refunds_it(spec: dict, live: LiveApp) -> None:
    c = live.client("manager-1")

    def call(method: str, path: str, body: dict | None = None) -> dict:
        r = c.request(method, path, json=body, headers={"Idempotency-Key": new_key()})
        assert r.status_code < 300, r.text
        return r.json()

    cart = call("POST", "/v1/carts", {})
    lines = _follow(spec, cart, "post", "/v1/carts", "201", "AddLine")
    cart = call("POST", lines, {"sku": "MILK-1L", "qty": 2})
    tenders = _follow(spec, cart, "post", "/v1/carts/{cart_id}/lines", "201", "AddTender")
    cart = call("POST", tenders, {"tender_type": "cash", "amount_minor": 500})
    complete = _follow(spec, cart, "post", "/v1/carts/{cart_id}/tenders", "201", "Complete")
    order = call("POST", complete, {})
    assert order["total_minor"] == 238
    receipt = _follow(spec, order, "post", "/v1/carts/{cart_id}/complete", "201", "GetReceipt")
    assert c.get(receipt).json()["total_minor"] == 238
    refunds = _follow(spec, order, "post", "/v1/carts/{cart_id}/complete", "201", "Refund")
    refund = call("POST", refunds, {"reason": "links"})
    again = _follow(spec, refund, "post", "/v1/orders/{order_id}/refunds", "201", "GetRefund")
    assert c.get(again).json()["amount_minor"] == 238


def test_every_contract_has_one_name(spec: dict) -> None:
    # Two Structs of one name in different modules get module-prefixed names ("api_X"):
    # clients generated from the spec would see neither under its own name.
    prefixed = sorted(k for k in spec["components"]["schemas"] if re.match(r"^[a-z_]+_[A-Z]", k))
    assert not prefixed, prefixed
