"""The fast lane answers the hot routes exactly as the framework does: the same scenario,
good and bad requests alike, through a store with the fast lane and one without, gives the same
statuses, headers and bodies (ids and times aside); and the fast lane really served the common
case while it handed every odd request to the framework."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar._parsers import parse_query_string

from edge import lanes
from edge.api.fastlane import query_pairs
from edge.store.db import open_connection
from tests.support.live_app import LiveApp, start_live_app

_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIMES = re.compile(r'"(expires_at|opened_at|completed_at)":"[^"]*"')


def _scenario(app: LiveApp) -> list[tuple]:
    c, other = app.client("lane-1"), app.client("lane-2")
    seen: list[tuple] = []
    ids: dict[str, str] = {}

    def call(client: httpx.Client, method: str, path: str, body=None, *, key="k", raw=None,
             headers=None) -> httpx.Response:
        path = path.format(**ids)
        h = {"Idempotency-Key": f"{key}"} if key else {}
        h.update(headers or {})
        if raw is not None:
            r = client.request(method, path, content=raw, headers=h)
        elif body is None:
            r = client.request(method, path, headers=h)
        else:
            r = client.request(method, path, json=body, headers=h)
        text = _TIMES.sub(r'"\1":"T"', _IDS.sub("ID", r.text))
        kept = _headers(r)
        seen.append((method, path.replace(ids.get("cart", "~"), "CART"), r.status_code, kept,
                     text))
        return r

    ids["cart"] = call(c, "POST", "/v1/carts", {}, key="o1").json()["cart_id"]
    call(c, "POST", "/v1/carts", {}, key="o1")  # replay
    call(c, "POST", "/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}, key="l1")
    call(c, "POST", "/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}, key="l1")  # replay
    call(c, "POST", "/v1/carts/{cart}/lines", {"sku": "MILK-1L"}, key="l1")  # key reused
    call(c, "POST", "/v1/carts/{cart}/lines", {"barcode": "4006381333931", "qty": 2}, key="l2")
    call(c, "POST", "/v1/carts/{cart}/lines", {"sku": "NO-SUCH"}, key="l3")  # unknown item
    call(c, "POST", "/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": "2"}, key="l4")
    call(c, "POST", "/v1/carts/{cart}/lines", None, key="l5", raw=b'{"sku": ')  # bad JSON
    call(c, "POST", "/v1/carts/{cart}/lines", None, key="l6", raw=b'{"sku":"MILK-1L"}',
         headers={"Content-Type": "text/plain"})
    call(c, "POST", "/v1/carts/{cart}/lines", {"sku": "MILK-1L"}, key=None)  # no key
    call(c, "POST", "/v1/carts/{cart}/lines", {"sku": "MILK-1L"}, key="bad key!")
    call(other, "POST", "/v1/carts/{cart}/lines", {"sku": "MILK-1L"}, key="x1")  # other lane
    call(c, "POST", "/v1/carts/nope/lines", {"sku": "MILK-1L"}, key="l7")  # no such cart
    call(c, "PATCH", "/v1/carts/{cart}/lines/1", {"qty": 3}, key="q1")
    call(c, "PATCH", "/v1/carts/{cart}/lines/99", {"qty": 3}, key="q2")
    call(c, "PATCH", "/v1/carts/{cart}/lines/0", {"qty": 3}, key="q3")  # out of bounds
    call(c, "DELETE", "/v1/carts/{cart}/lines/2", key="d1")
    call(c, "POST", "/v1/carts/{cart}/complete", {}, key="c0")  # not paid yet
    call(c, "POST", "/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 100},
         key="t1")
    call(c, "POST", "/v1/carts/{cart}/tenders", {"tender_type": "voucher",
                                                 "amount_minor": 100, "voucher_code": "NOPE"},
         key="t2")
    call(c, "POST", "/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 5000},
         key="t3")
    call(c, "POST", "/v1/carts/{cart}/complete", {}, key="c1")
    call(c, "POST", "/v1/carts/{cart}/complete", {}, key="c1")  # replay
    call(c, "POST", "/v1/carts/{cart}/lines", {"sku": "MILK-1L"}, key="l9")  # cart closed
    call(c, "POST", "/v1/carts", None, key="o2", raw=b"x" * 2_000_000)  # too big
    with httpx.Client(base_url=app.url, headers={"Authorization": "Bearer npe_unknown"}) as bad:
        call(bad, "POST", "/v1/carts", {}, key="o3")
    return seen


def _headers(r: httpx.Response) -> dict[str, str]:
    """Every response header but the two that differ per request (date, request id)."""
    kept = {k: v for k, v in r.headers.items() if k not in ("date", "x-request-id")}
    if "content-length" in kept:
        kept["content-length"] = "len"  # ids are the same length; bodies compared apart
    if "allow" in kept:  # the framework lists a path's methods in set order, per process
        kept["allow"] = ", ".join(sorted(m.strip() for m in kept["allow"].split(",")))
    return kept


def _foreign_token(app: LiveApp, tenant_id: str, store_id: str) -> str:
    conn = open_connection(app.service.db_path)
    try:
        return lanes.enroll(conn, tenant_id=tenant_id, store_id=store_id, lane_id="lane-9",
                            role="cashier", now_ms=0).token
    finally:
        conn.close()


def _reads(app: LiveApp) -> list[tuple]:
    """The hot reads, the common case and every odd one (the fast lane's for the first, the
    framework's for the rest), then a locked-out peer."""
    c = app.client("lane-1")
    seen: list[tuple] = []

    def get(client: httpx.Client, path: str, method: str = "GET", **kw) -> None:
        r = client.request(method, path, **kw)
        seen.append((method, path, r.status_code, _headers(r), r.content))

    long_sku = "A" * 65
    # Fast: the plain common case (found, unknown, at the bound, decoded like the framework).
    for q in ("sku=MILK-1L", "sku=BREAD-500G", "sku=NO-SUCH", "sku=" + "A" * 64,
              "sku=MILK%2D1L", "sku=a+b", "sku=%C3%A9", "sku=%ZZ", "sku=MILK-1L&", "&sku=MILK-1L"):
        get(c, "/v1/stock?" + q)
    for sku in ("MILK-1L", "BREAD-500G", "NO-SUCH", "MILK%2D1L", "NO%2DSUCH", "A" * 64):
        get(c, f"/v1/catalog/items/{sku}")
    # The framework's: too long, empty, missing, duplicated, unknown or misspelt parameters.
    for q in ("sku=" + long_sku, "sku=", "sku", "", "sku=MILK-1L&sku=BREAD-500G",
              "sku=MILK-1L&sku=MILK-1L", "sku=MILK-1L&foo=1", "SKU=MILK-1L",
              "sku=%41" + "A" * 64):  # 65 once decoded
        get(c, "/v1/stock?" + q if q else "/v1/stock")
    for path in (f"/v1/catalog/items/{long_sku}", "/v1/catalog/items/MILK-1L?x=1",
                 "/v1/catalog/items/MILK-1L/", "/v1/catalog/items/MILK%201L", "/v1/stock/"):
        get(c, path)
    get(c, "/v1/stock?sku=MILK-1L", content=b'{"sku":"x"}')  # a GET with a body
    get(c, "/v1/stock?sku=MILK-1L", method="HEAD")
    get(c, "/v1/catalog/items/MILK-1L", method="HEAD")
    foreign_store = _foreign_token(app, "demo-tenant", "store-002")
    foreign_tenant = _foreign_token(app, "other-tenant", "store-001")
    for token in (foreign_store, foreign_tenant):
        with httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {token}"}) as o:
            get(o, "/v1/stock?sku=MILK-1L")
            get(o, "/v1/catalog/items/MILK-1L")
    with httpx.Client(base_url=app.url) as anon:
        get(anon, "/v1/stock?sku=MILK-1L")
        get(anon, "/v1/catalog/items/MILK-1L", headers={"Authorization": "Basic eDp5"})
    # Refused tokens until the peer is locked out: then a good token is refused too (429).
    with httpx.Client(base_url=app.url, headers={"Authorization": "Bearer npe_unknown"}) as bad:
        for _ in range(app.daemon.config.auth_limit.max_failures):
            get(bad, "/v1/stock?sku=MILK-1L")
    get(c, "/v1/stock?sku=MILK-1L")
    get(c, "/v1/catalog/items/MILK-1L")
    return seen


def _served(app: LiveApp) -> dict[tuple[str, str], float]:
    text = app.client().get("/metrics").text
    found = {}
    for line in text.splitlines():
        m = re.match(r'novapos_fast_lane_requests_total\{method="(\w+)",route="([^"]+)"\} (\S+)',
                     line)
        if m:
            found[(m.group(1), m.group(2))] = float(m.group(3))
    return found


def _writes(served: dict[tuple[str, str], float]) -> float:
    return sum(n for (method, _route), n in served.items() if method != "GET")


@pytest.fixture
def apps(tmp_path: Path):
    fast = start_live_app(tmp_path / "fast")
    slow = start_live_app(tmp_path / "slow", fast_lane=False)
    try:
        yield fast, slow
    finally:
        fast.close()
        slow.close()


def test_the_fast_lane_answers_as_the_framework_does(apps) -> None:
    fast, slow = apps
    a, b = _scenario(fast), _scenario(slow)
    for got, want in zip(a, b, strict=True):
        assert got == want
    # The common case went the fast way, every odd request the framework's.
    assert _writes(_served(fast)) >= 14 and not any(_served(slow).values())


def test_the_fast_lane_answers_reads_as_the_framework_does(apps) -> None:
    fast, slow = apps
    a, b = _reads(fast), _reads(slow)
    for got, want in zip(a, b, strict=True):
        assert got == want
    # The 200 and 404 answers really were the fast lane's, and only the plain common case.
    served = _served(fast)
    assert served[("GET", "/v1/stock")] == 10
    assert served[("GET", "/v1/catalog/items/{sku}")] == 6
    assert not any(_served(slow).values())
    assert any(status == 404 and b"unknown-sku" in body for _m, _p, status, _h, body in a)
    assert {status for _m, _p, status, _h, _b in a} >= {200, 400, 401, 403, 404, 405, 429}


# Query strings made of the pieces the fast lane judges: names, separators, escapes, lengths.
_PIECES = st.sampled_from(["sku", "SKU", "foo", "=", "&", "&", ";", "+", "%", "%2D", "%41",
                           "%C3%A9", "%ZZ", "%00", "MILK-1L", "BREAD-500G", "A" * 32, "-", "."])
_QUERIES = st.lists(_PIECES, max_size=12).map("".join)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=_QUERIES)
def test_any_stock_query_is_answered_as_the_framework_answers_it(apps, query: str) -> None:
    fast, slow = apps
    with fast.client() as f, slow.client() as s:
        a, b = f.get("/v1/stock?" + query), s.get("/v1/stock?" + query)
    assert (a.status_code, _headers(a), a.content) == (b.status_code, _headers(b), b.content)


@given(raw=st.binary(max_size=64) | _QUERIES.map(str.encode))
def test_the_fast_lane_decodes_a_query_as_the_framework_does(raw: bytes) -> None:
    assert tuple(query_pairs(raw)) == parse_query_string(raw)


def _request_counts(app: LiveApp) -> dict[str, float]:
    text = app.client().get("/metrics").text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("novapos_http_request_duration_seconds_count{")
            and 'method="GET"' in line}


def test_a_fast_look_up_is_logged_and_timed_as_the_framework_does(apps) -> None:
    fast, slow = apps
    lines: dict[str, list[dict]] = {}
    for name, app in (("fast", fast), ("slow", slow)):
        with structlog.testing.capture_logs() as logs, app.client() as c:
            c.get("/v1/stock?sku=NO-SUCH")  # 404: one log line, with the lane
            c.get("/v1/stock?sku=MILK-1L")  # a good read: no line
            c.get("/v1/catalog/items/MILK-1L")
        lines[name] = [{k: v for k, v in e.items() if k not in ("request_id", "duration_ms")}
                       for e in logs if e.get("event") == "request"]
    assert lines["fast"] == lines["slow"]
    assert [(e["status"], e["route"], e["lane"]) for e in lines["fast"]] == [
        (404, "/v1/stock", "lane-1")]
    # The latency histogram names the same routes and status classes on both paths.
    assert _request_counts(fast) == _request_counts(slow)
    assert _served(fast)[("GET", "/v1/stock")] == 2
