"""The fast lane answers the hot routes exactly as the framework does: the same scenario,
good and bad requests alike, through a store with the fast lane and one without, gives the same
statuses, headers and bodies (ids and times aside); and the fast lane really served the common
case while it handed every odd request to the framework."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

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
        kept = {k: r.headers.get(k) for k in ("content-type", "retry-after",
                                               "idempotent-replayed", "content-length")}
        if kept["content-length"] is not None:
            kept["content-length"] = "len"  # ids are the same length; bodies compared below
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


def _served(app: LiveApp) -> float:
    text = app.client().get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("novapos_fast_lane_requests_total{"))


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
    assert _served(fast) >= 14 and _served(slow) == 0
