"""Small request helpers shared by the API tests."""

from __future__ import annotations

import httpx

from tests.conftest import new_key
from tests.support.live_app import LiveApp


def post(client: httpx.Client, path: str, body, key: str | None = None, **kw) -> httpx.Response:
    return client.post(path, json=body, headers={"Idempotency-Key": key or new_key(), **kw.pop("headers", {})}, **kw)


def open_cart(client: httpx.Client) -> str:
    r = post(client, "/v1/carts", {})
    assert r.status_code == 201, r.text
    return r.json()["cart_id"]


def head_seq(live: LiveApp) -> int:
    """The seq of the last trading event. The hardware layer appends `device.*` events on its
    own schedule (a terminal or printer found by the registry's poll), so "a refused request
    appended nothing" is judged without them."""
    rows = live.service.reader.execute(
        "SELECT max(seq) FROM events WHERE type NOT LIKE 'device.%'").fetchall()
    return rows[0][0] or 0


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/" + slug), body
    assert body["status"] == status and body["title"] and body["detail"]
    return body
