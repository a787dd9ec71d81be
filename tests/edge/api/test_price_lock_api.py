"""Price lock: a price change mid-cart does not move locked lines; expiry re-prices or refuses."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp

TTL_MS = 900_000  # default lock: 15 minutes
REPRICE = {"NOVAPOS_PRICE_LOCK__ON_EXPIRY": "reprice"}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def set_price(live: LiveApp, sku: str, version: int, amount_minor: int) -> None:
    r = post(live.client("manager-1"), "/v1/catalog/imports", {
        "prices": [{"sku": sku, "version": version, "amount_minor": amount_minor,
                    "effective_at": _iso(live.clock.now_ms())}]})
    assert r.status_code == 201, r.text


def _cart_with_milk(live: LiveApp) -> tuple[str, object]:
    c = live.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 2})
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    return cart, c


def test_price_change_mid_cart_does_not_move_a_locked_line(live: LiveApp) -> None:
    cart, c = _cart_with_milk(live)
    live.clock.advance(60_000)
    set_price(live, "MILK-1L", 2, 149)

    view = c.get(f"/v1/carts/{cart}").json()
    milk = view["lines"][0]
    assert milk["unit_price_minor"] == 119 and milk["price_version"] == 1
    assert milk["price_lock"]["locked"] and milk["price_lock"]["would_reprice"]
    assert milk["price_lock"]["current_unit_price_minor"] == 149
    assert view["lines_to_reprice"] == []  # still locked: nothing to re-price yet
    assert view["total_minor"] == 2 * 119 + 249

    # A new scan of the same SKU takes the new price.
    added = post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"}).json()["lines"][2]
    assert (added["unit_price_minor"], added["price_version"]) == (149, 2)

    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 1000})
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    lines = order["lines"]
    assert [(ln["unit_price_minor"], ln["price_version"], ln["sold_under_lock"]) for ln in lines] == [
        (119, 1, True), (249, 1, False), (149, 2, False)]
    assert order["total_minor"] == 2 * 119 + 249 + 149


def test_expired_lock_refuses_completion_until_repriced(live: LiveApp) -> None:
    cart, c = _cart_with_milk(live)
    set_price(live, "MILK-1L", 2, 149)
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 2000})
    live.clock.advance(TTL_MS + 1)

    view = c.get(f"/v1/carts/{cart}").json()
    assert view["lines_to_reprice"] == [1]
    seq = head_seq(live)
    body = assert_problem(post(c, f"/v1/carts/{cart}/complete", {}), 409, "price-lock-expired")
    assert body["lines"] == [1]
    assert head_seq(live) == seq

    repriced = post(c, f"/v1/carts/{cart}/reprice", {}).json()
    milk = repriced["lines"][0]
    assert (milk["unit_price_minor"], milk["price_version"], milk["price_lock"]["locked"]) == (149, 2, True)
    bread = repriced["lines"][1]
    assert bread["unit_price_minor"] == 249  # its price did not move: nothing to re-price
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    assert [ln["sold_under_lock"] for ln in order["lines"]] == [False, False]
    assert order["total_minor"] == 2 * 149 + 249


def test_expired_lock_without_a_price_change_completes(live: LiveApp) -> None:
    cart, c = _cart_with_milk(live)
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 1000})
    live.clock.advance(TTL_MS * 3)
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201


def test_reprice_policy_reprices_on_completion(live_with) -> None:
    app = live_with(REPRICE)
    cart, c = _cart_with_milk(app)
    set_price(app, "MILK-1L", 2, 99)
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 1000})
    app.clock.advance(TTL_MS + 1)
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    assert order["lines"][0]["unit_price_minor"] == 99
    assert order["total_minor"] == 2 * 99 + 249


def test_reprice_policy_still_refuses_when_tender_no_longer_covers(live_with) -> None:
    app = live_with(REPRICE)
    cart, c = _cart_with_milk(app)
    set_price(app, "MILK-1L", 2, 499)
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 500})
    app.clock.advance(TTL_MS + 1)
    seq = head_seq(app)
    body = assert_problem(post(c, f"/v1/carts/{cart}/complete", {}), 409, "tender-insufficient")
    assert body["amount_due_minor"] == 2 * 499 + 249 - 500
    assert head_seq(app) == seq, "the re-price must roll back with the refused completion"


def test_a_price_version_is_immutable(live: LiveApp) -> None:
    seq = head_seq(live)
    r = post(live.client("manager-1"), "/v1/catalog/imports", {
        "prices": [{"sku": "MILK-1L", "version": 1, "amount_minor": 1, "effective_at": "2026-01-01T00:00:00Z"}]})
    assert_problem(r, 422, "catalog-rejected")
    assert head_seq(live) == seq
