"""Idempotency-Key semantics on money routes: replay, mismatch, missing, in flight."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core.errors import IdempotencyKeyInFlight
from core.idempotency import Answer
from edge.lanes import Principal
from edge.store.idempotency import Gate, Mutation
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp


def test_same_key_same_body_replays_the_stored_response(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    first = post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}, key="scan-1")
    seq = head_seq(live)
    again = post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}, key="scan-1")
    assert again.status_code == first.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert head_seq(live) == seq, "a replay must not append anything"
    assert len(c.get(f"/v1/carts/{cart}").json()["lines"]) == 1


def test_double_tap_on_complete_sells_once(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"})
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 500})
    a = post(c, f"/v1/carts/{cart}/complete", {}, key="pay-1")
    b = post(c, f"/v1/carts/{cart}/complete", {}, key="pay-1")
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    rows = live.service.reader.execute("SELECT count(*) FROM orders WHERE cart_id=?", (cart,)).fetchall()
    assert rows[0][0] == 1


def test_same_key_other_body_is_422_and_changes_nothing(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}, key="k")
    seq = head_seq(live)
    r = post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"}, key="k")
    assert_problem(r, 422, "idempotency-key-reused")
    assert head_seq(live) == seq


def test_key_is_scoped_to_the_lane(live: LiveApp) -> None:
    one, two = live.client("lane-1"), live.client("lane-2")
    a = post(one, "/v1/carts", {}, key="same")
    b = post(two, "/v1/carts", {}, key="same")
    assert a.status_code == b.status_code == 201
    assert a.json()["cart_id"] != b.json()["cart_id"]


def test_missing_key_is_400_on_every_mutating_route(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    seq = head_seq(live)
    for method, path, body in [
        ("POST", "/v1/carts", {}),
        ("POST", f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}),
        ("POST", f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 100}),
        ("POST", f"/v1/carts/{cart}/complete", {}),
        ("POST", f"/v1/carts/{cart}/void", {}),
        ("POST", f"/v1/carts/{cart}/discounts", {"kind": "percent", "value": 100}),
        ("POST", f"/v1/carts/{cart}/reprice", {}),
        ("PATCH", f"/v1/carts/{cart}/lines/1", {"qty": 2}),
    ]:
        r = c.request(method, path, json=body)
        assert_problem(r, 400, "idempotency-key-missing")
    r = c.delete(f"/v1/carts/{cart}/lines/1")
    assert_problem(r, 400, "idempotency-key-missing")
    assert head_seq(live) == seq


def test_a_refused_request_is_not_stored_so_a_retry_is_reevaluated(live: LiveApp) -> None:
    c = live.client()
    cart = open_cart(c)
    r = post(c, f"/v1/carts/{cart}/complete", {}, key="early")
    assert_problem(r, 409, "empty-cart")
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 300})
    assert post(c, f"/v1/carts/{cart}/complete", {}, key="early").status_code == 201


class _SlowWriter:
    """A writer whose commit waits for the test, to hold a request in flight."""

    def __init__(self) -> None:
        self.release = threading.Event()

    async def run(self, fn):
        await asyncio.to_thread(self.release.wait)
        return fn(_NoKeysTx())


class _NoKeysTx:
    """A transaction over an empty key table: every request is fresh."""

    now_ms = 0

    class conn:  # noqa: N801 - stands in for the apsw connection
        @staticmethod
        def execute(sql, args=()):
            return type("C", (), {"fetchall": staticmethod(lambda: [])})()


def test_same_key_while_the_first_is_in_flight_is_409() -> None:
    writer = _SlowWriter()
    gate = Gate(writer, lambda: None)  # type: ignore[arg-type]
    m = Mutation(who=Principal("t", "s", "lane-1", "cashier", "tok"), key="k", method="POST",
                 path="/v1/carts")

    async def scenario() -> None:
        first = asyncio.create_task(gate.run(m, {}, lambda tx: Answer(201, b"{}")))
        await asyncio.sleep(0.05)
        with pytest.raises(IdempotencyKeyInFlight) as exc:
            await gate.run(m, {}, lambda tx: Answer(201, b"{}"))
        assert exc.value.status == 409 and exc.value.retry_after_s == 1
        writer.release.set()
        assert (await first).response.status == 201

    asyncio.run(scenario())


def test_in_flight_problem_carries_retry_after(live: LiveApp) -> None:
    # The 409 mapping at the HTTP edge: the Retry-After header is set from the error type.
    from edge.api.problems import domain_error

    class Req:
        url = type("U", (), {"path": "/v1/carts"})()

    resp = domain_error(Req(), IdempotencyKeyInFlight("busy"))  # type: ignore[arg-type]
    assert resp.status_code == 409 and resp.headers["Retry-After"] == "1"


def test_expired_keys_are_pruned_after_retention(live: LiveApp) -> None:
    c = live.client()
    post(c, "/v1/carts", {}, key="old")
    live.clock.advance(8 * 86_400_000)
    assert live.service.prune_idempotency_keys() == 1
    # After retention the key is forgotten: the same key opens a new cart.
    r = post(c, "/v1/carts", {}, key="old")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
