"""Promotions for a loyalty tier: the cart's customer decides which segment rules apply.
Attaching a customer re-evaluates the cart's promotions, removing the customer (or switching
to one of another tier) takes them off; every later cart change sees the tier too. Over the
lane's HTTP API, and at the domain (the writer commands on a real store)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from edge.carts.model import fetch
from edge.compose import policy_of
from edge.config import load
from edge.loyalty import commands
from edge.promotions import install
from schemas import loyalty as lo
from schemas import promotions as sp
from tests.edge.api.helpers import assert_problem, open_cart, post
from tests.edge.loyalty.support import customer_change, down_sync_customer, provision
from tests.edge.promotions.support import PINNED, sales, signed
from tests.support.live_app import LiveApp, start_live_app

GOLD_MILK = sp.Rule("gold-milk", "Gold: 10 % off milk", sp.PercentOff(1000),
                    sp.Target(skus=("MILK-1L",)), segments=("gold",))
EVERYONE_BREAD = sp.Rule("bread-10", "10 off bread", sp.AmountOff(10),
                         sp.Target(skus=("BREAD-500G",)))
ANN = lo.PersonalData(name="Ann", card="LOY-1")
BOB = lo.PersonalData(name="Bob", card="LOY-2")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[LiveApp]:
    provision(tmp_path / "store")
    app = start_live_app(tmp_path / "store", env=PINNED)
    down_sync_customer(app.service, customer_change("c-gold", ANN, balance=10, tier="gold"))
    down_sync_customer(app.service, customer_change("c-silver", BOB, balance=10, tier="silver"))
    app.service.writer.run_sync(lambda tx: install.install(
        tx, signed(GOLD_MILK, EVERYONE_BREAD), PINNED["NOVAPOS_PROMOTIONS__HQ_PUBLIC_KEY"]))
    try:
        yield app
    finally:
        app.close()


def _rules(view: dict) -> list[tuple[str, int]]:
    return [(p["rule_id"], p["discount_minor"]) for p in view["promotions"]]


def test_attaching_a_gold_customer_applies_the_gold_rule_and_removing_takes_it_off(
        shop: LiveApp) -> None:
    c = shop.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 2})
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}).json()
    assert _rules(view) == [("bread-10", 10)]  # anonymous: no tier rule
    anonymous_total = view["total_minor"]

    r = post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-gold"})
    assert r.status_code == 200, r.text
    view = c.get(f"/v1/carts/{cart}").json()
    assert sorted(_rules(view)) == [("bread-10", 10), ("gold-milk", 24)]  # 10 % of 2 x 1.19
    assert view["total_minor"] == anonymous_total - 24

    # A later change is evaluated for the gold customer too.
    view = c.patch(f"/v1/carts/{cart}/lines/1", json={"qty": 4},
                   headers={"Idempotency-Key": "q4"}).json()
    assert ("gold-milk", 48) in _rules(view)

    r = c.delete(f"/v1/carts/{cart}/customer", headers={"Idempotency-Key": "off"})
    assert r.status_code == 200 and r.json() == {"cart_id": cart, "customer_id": None}
    view = c.get(f"/v1/carts/{cart}").json()
    assert _rules(view) == [("bread-10", 10)]
    # A retried removal is the stored answer, nothing appended again.
    n = shop.service.reader.execute("SELECT count(*) FROM events").fetchall()[0][0]
    again = c.delete(f"/v1/carts/{cart}/customer", headers={"Idempotency-Key": "off"})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert shop.service.reader.execute("SELECT count(*) FROM events").fetchall()[0][0] == n


def test_switching_to_a_silver_customer_takes_the_gold_rule_off_and_the_sale_records_it(
        shop: LiveApp) -> None:
    c = shop.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-gold"})
    view = post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 1}).json()
    assert _rules(view) == [("gold-milk", 12)]
    post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-silver"})
    assert _rules(c.get(f"/v1/carts/{cart}").json()) == []
    post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-gold"})
    view = c.get(f"/v1/carts/{cart}").json()
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash",
                                          "amount_minor": view["total_minor"]})
    assert post(c, f"/v1/carts/{cart}/complete", {}).status_code == 201
    sale = sales(shop)[-1]
    assert [(p.rule_id, p.discount_minor) for p in sale.lines[0].promotions] == [
        ("gold-milk", 12)]


def test_removing_the_customer_of_an_anonymous_or_unknown_cart(shop: LiveApp) -> None:
    c = shop.client()
    cart = open_cart(c)
    r = c.delete(f"/v1/carts/{cart}/customer", headers={"Idempotency-Key": "none"})
    assert r.status_code == 200 and r.json()["customer_id"] is None
    assert_problem(c.delete("/v1/carts/no-such-cart/customer",
                            headers={"Idempotency-Key": "x"}), 404, "not-found")
    assert not shop.service.reader.execute(
        "SELECT 1 FROM events WHERE type = 'loyalty.customer_detached'").fetchall()


def test_the_customer_cannot_be_removed_while_their_points_pay(shop: LiveApp) -> None:
    c = shop.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-gold"})
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 1})
    r = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "points", "amount_minor": 5})
    assert r.status_code in (200, 201), r.text
    assert_problem(c.delete(f"/v1/carts/{cart}/customer", headers={"Idempotency-Key": "d"}),
                   409, "points-tender-on-cart")
    assert_problem(post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-silver"}), 409,
                   "points-tender-on-cart")
    assert shop.service.reader.execute(
        "SELECT customer_id FROM loyalty_cart_customers WHERE cart_id = ?",
        (cart,)).fetchall() == [("c-gold",)]


def test_the_domain_commands_re_evaluate_with_the_policys_segment(shop: LiveApp,
                                                                   tmp_path: Path) -> None:
    store = shop.service
    c = shop.client()
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 1})
    who = store.authenticate(shop.tokens["lane-1"])
    assert who is not None
    policy = replace(policy_of(load(tmp_path / "store", PINNED)), segment_of=commands.tier_of)

    def promotions() -> list[str]:
        found = store.writer.run_sync(lambda tx: fetch(tx, cart))
        assert found is not None
        return [p.rule_id for p in found.promotions]

    # Without the policy (the hook alone), the cart is not evaluated again.
    store.writer.run_sync(lambda tx: commands.attach(tx, who, cart, "c-silver"))
    assert promotions() == [] and commands.tier_of(store.reader, cart) == "silver"
    store.writer.run_sync(lambda tx: commands.attach(tx, who, cart, "c-gold", policy))
    assert promotions() == ["gold-milk"]
    assert commands.tier_of(store.reader, cart) == "gold"
    assert store.writer.run_sync(lambda tx: commands.detach(tx, who, cart, policy)) == "c-gold"
    assert promotions() == []
    assert commands.tier_of(store.reader, cart) is None
    # A policy without loyalty (the default) never asks: the tier rule does not apply.
    store.writer.run_sync(lambda tx: commands.attach(tx, who, cart, "c-gold",
                                                     policy_of(load(tmp_path / "store", PINNED))))
    assert promotions() == []
